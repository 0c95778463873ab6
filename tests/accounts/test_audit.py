"""The audit trail: what is recorded, and the managers' page that shows a project's events."""

import pytest

from accounts.audit import audit_record
from accounts.models import AuditAction, AuditEvent
from accounts.services import membership_add, token_create
from accounts.views import AUDIT_PAGE_SIZE

pytestmark = pytest.mark.django_db

AUDIT = "/accounts/projects/alpha/audit/"


def test_audit_record_takes_the_client_address_of_the_current_request(client, alice, project):
    client.force_login(alice)
    client.post(
        "/accounts/tokens/",
        {"name": "ci", "project": "alpha", "scope": "read"},
        REMOTE_ADDR="198.51.100.23",
    )
    event = AuditEvent.objects.get(action=AuditAction.TOKEN_CREATED)
    assert event.ip == "198.51.100.23"
    assert event.username == "alice"


def test_the_trail_keeps_names_after_the_user_is_deleted(alice, charlie, project):
    membership_add(project=project, identifier="charlie", role="viewer", by=alice)
    charlie.delete()
    event = AuditEvent.objects.get(action=AuditAction.MEMBER_ADDED)
    assert event.target_repr == "charlie"
    assert event.username == "alice"


def test_manager_sees_the_projects_events_only(client, alice, charlie, project, other_project):
    token_create(user=alice, project=project, name="mine")
    token_create(user=charlie, project=other_project, name="theirs")
    client.force_login(alice)
    response = client.get(AUDIT)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Token created" in html
    assert "mine" in html
    assert "theirs" not in html


def test_the_audit_page_is_paginated(client, alice, project):
    for n in range(AUDIT_PAGE_SIZE + 5):
        audit_record(user=alice, action=AuditAction.RUN_DELETED, project=project, detail=f"#{n}")
    client.force_login(alice)
    first = client.get(AUDIT)
    assert len(first.context["page"].object_list) == AUDIT_PAGE_SIZE
    assert "?page=2" in first.content.decode()
    second = client.get(AUDIT + "?page=2")
    # Five run deletions plus the project's creation.
    assert len(second.context["page"].object_list) == 6
    assert client.get(AUDIT + "?page=nonsense").status_code == 200
    assert client.get(AUDIT + "?page=999").status_code == 200


def test_viewer_gets_403_on_the_audit_page(client, bob, project):
    client.force_login(bob)
    assert client.get(AUDIT).status_code == 403


def test_charlie_gets_404_on_alices_audit_page(client, charlie, project):
    client.force_login(charlie)
    assert client.get(AUDIT).status_code == 404


def test_audit_page_query_count_is_bounded(client, alice, project, django_assert_max_num_queries):
    for n in range(30):
        audit_record(user=alice, action=AuditAction.RUN_RESTORED, project=project, detail=str(n))
    client.force_login(alice)
    with django_assert_max_num_queries(8):
        assert client.get(AUDIT).status_code == 200
