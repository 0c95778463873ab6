"""A staff flag alone made a user manager of every project. Only superusers see and manage every
project; staff get the Django admin their permissions allow and no project access."""

import pytest
from django.urls import reverse

from accounts.access import Actor, role_in
from accounts.models import Project, Role
from tracking.services.projects import project_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("stafford", password="pw-staff-1", is_staff=True)


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", password="pw-root-1")


def test_staff_without_membership_cannot_see_a_project(client, api_client, staff, project):
    assert role_in(actor=Actor(user=staff), project=project) is None
    assert not Project.objects.visible_to(staff).exists()

    client.force_login(staff)
    assert client.get(reverse("project", kwargs={"slug": project.slug})).status_code == 404
    assert client.get(f"/accounts/projects/{project.slug}/members/").status_code == 404
    assert (
        client.post(
            f"/accounts/projects/{project.slug}/members/add/", {"identifier": "staff"}
        ).status_code
        == 404
    )
    api_client.force_login(staff)
    assert api_client.get("/api/v1/projects/").json() == []
    assert api_client.get(f"/api/v1/projects/{project.slug}/").status_code == 404


def test_staff_get_only_the_role_of_their_membership(api_client, staff, project):
    project.memberships.create(user=staff, role=Role.VIEWER)

    assert role_in(actor=Actor(user=staff), project=project) == Role.VIEWER
    api_client.force_login(staff)
    (listed,) = api_client.get("/api/v1/projects/").json()
    assert listed["role"] == "viewer"
    response = api_client.post(
        f"/api/v1/projects/{project.slug}/members/", {"user": "charlie"}, format="json"
    )
    assert response.status_code == 403


def test_superusers_see_and_manage_every_project(api_client, root, project, charlie):
    project_create(slug="beta", name="Beta", owner=charlie)

    assert role_in(actor=Actor(user=root), project=project) == Role.MANAGER
    api_client.force_login(root)
    listed = api_client.get("/api/v1/projects/").json()
    assert {p["slug"]: p["role"] for p in listed} == {"alpha": "manager", "beta": "manager"}
