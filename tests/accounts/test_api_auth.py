"""API authentication: tokens as Bearer, Token or HTTP Basic; sessions with CSRF; clear 401s."""

import base64
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.access import Actor, require_role, role_in
from accounts.authentication import LAST_USED_RESOLUTION
from accounts.models import ApiToken, Role, TokenScope
from accounts.services import membership_remove
from tests.conftest import bearer
from tests.factories import make_token

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"


def basic(username: str, password: str) -> dict:
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {encoded}"}


def test_me_route_is_named():
    assert reverse("api-me") == ME


def test_bearer_token_authenticates_as_its_user_in_its_project(api_client, alice, alice_token):
    _token, raw = alice_token
    response = api_client.get(ME, **bearer(raw))
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "alice"
    assert body["email"] == "alice@example.org"
    assert body["is_staff"] is False
    assert body["id"] == alice.pk
    assert body["token"]["project"] == "alpha"
    assert body["token"]["scope"] == "write"


def test_token_scheme_works_too(api_client, alice_token):
    _token, raw = alice_token
    response = api_client.get(ME, HTTP_AUTHORIZATION=f"Token {raw}")
    assert response.status_code == 200
    assert response.json()["username"] == "alice"


def test_http_basic_takes_the_token_as_password_with_any_username(api_client, alice_token):
    _token, raw = alice_token
    response = api_client.get(ME, **basic("whatever-name", raw))
    assert response.status_code == 200
    assert response.json()["username"] == "alice"


def test_scheme_is_case_insensitive(api_client, alice_token):
    _token, raw = alice_token
    assert api_client.get(ME, HTTP_AUTHORIZATION=f"bearer {raw}").status_code == 200


def test_missing_credentials_get_401_with_www_authenticate(api_client):
    response = api_client.get(ME)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer mlp_notavalidtoken",
        "Bearer " + "mlp_" + "A" * 40,
        "Bearer ",
        "Token",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"alice:").decode(),
        "Basic " + base64.b64encode(b"alice:alice-password-1").decode(),
    ],
)
def test_bad_credentials_get_401_with_www_authenticate(api_client, alice, header):
    response = api_client.get(ME, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert "WWW-Authenticate" in response
    assert response.json()["error"]["message"]


def test_a_token_with_the_right_prefix_but_wrong_secret_is_rejected(api_client, alice_token):
    _token, raw = alice_token
    forged = raw[:-1] + ("a" if raw[-1] != "a" else "b")
    response = api_client.get(ME, **bearer(forged))
    assert response.status_code == 401
    assert "Invalid" in response.json()["error"]["message"]


def test_expired_token_gets_401_saying_expired(api_client, alice, project):
    _token, raw = make_token(
        user=alice, project=project, expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = api_client.get(ME, **bearer(raw))
    assert response.status_code == 401
    assert "WWW-Authenticate" in response
    assert "expired" in response.json()["error"]["message"]


def test_revoked_token_gets_401_saying_revoked(api_client, alice_token):
    token, raw = alice_token
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    response = api_client.get(ME, **bearer(raw))
    assert response.status_code == 401
    assert "WWW-Authenticate" in response
    assert "revoked" in response.json()["error"]["message"]


def test_a_deactivated_users_token_stops_working(api_client, alice, alice_token):
    _token, raw = alice_token
    alice.is_active = False
    alice.save()
    response = api_client.get(ME, **bearer(raw))
    assert response.status_code == 401
    assert "deactivated" in response.json()["error"]["message"]


def test_removing_a_member_disables_their_token_for_that_project(
    api_client, alice, bob, project, bob_token
):
    token, raw = bob_token
    assert role_in(actor=Actor(user=bob, token=token), project=project) == Role.VIEWER
    membership_remove(membership=project.memberships.get(user=bob), by=alice)

    token.refresh_from_db()
    assert role_in(actor=Actor(user=bob, token=token), project=project) is None
    with pytest.raises(Http404):
        require_role(actor=Actor(user=bob, token=token), project=project)
    assert api_client.get(ME, **bearer(raw)).status_code == 401


def test_a_membership_deleted_elsewhere_also_ends_the_tokens_access(bob, project, bob_token):
    # Even without the service (say, a cascade from an admin action), access follows membership.
    token, _raw = bob_token
    project.memberships.filter(user=bob).delete()
    assert role_in(actor=Actor(user=bob, token=token), project=project) is None


def test_a_token_never_exceeds_its_users_role(bob, project, bob_token):
    token, _raw = bob_token  # a write token, but bob is only a viewer
    assert role_in(actor=Actor(user=bob, token=token), project=project) == Role.VIEWER


def test_a_write_token_of_a_manager_acts_as_editor_at_most(alice, project, alice_token):
    token, _raw = alice_token
    assert role_in(actor=Actor(user=alice, token=token), project=project) == Role.EDITOR


def test_a_read_token_is_capped_to_viewer(alice, project):
    token, _raw = make_token(user=alice, project=project, scope=TokenScope.READ)
    assert role_in(actor=Actor(user=alice, token=token), project=project) == Role.VIEWER


def test_a_read_token_may_read_but_gets_403_on_writes(alice, project):
    token, _raw = make_token(user=alice, project=project, scope=TokenScope.READ)
    actor = Actor(user=alice, token=token)
    assert require_role(actor=actor, project=project, need=Role.VIEWER) == Role.VIEWER
    with pytest.raises(PermissionDenied):
        require_role(actor=actor, project=project, need=Role.EDITOR)


def test_a_token_gets_404_in_another_project_even_where_its_user_manages(
    alice, other_project, alice_token
):
    token, _raw = alice_token
    other_project.memberships.create(user=alice, role=Role.MANAGER)
    with pytest.raises(Http404):
        require_role(actor=Actor(user=alice, token=token), project=other_project)


def test_a_token_sees_nothing_of_another_project(alice, project, other_project, alice_token):
    token, _raw = alice_token
    other_project.memberships.create(user=alice, role=Role.MANAGER)
    assert role_in(actor=Actor(user=alice), project=other_project) == Role.MANAGER
    assert role_in(actor=Actor(user=alice, token=token), project=other_project) is None


def test_last_used_is_written_at_most_once_a_minute(api_client, alice_token, settings):
    # Without the token cache, so that each request reads the token (test_token_cache.py
    # covers the cache).
    settings.MLPLATFORM_TOKEN_CACHE_SECONDS = 0
    token, raw = alice_token
    assert token.last_used_at is None
    api_client.get(ME, **bearer(raw))
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None

    api_client.get(ME, **bearer(raw))
    token.refresh_from_db()
    assert token.last_used_at == first

    earlier = timezone.now() - LAST_USED_RESOLUTION - timedelta(seconds=1)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=earlier)
    api_client.get(ME, **bearer(raw))
    token.refresh_from_db()
    assert token.last_used_at > earlier


def test_session_authenticates_our_own_pages_api_calls(alice):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.get(ME)
    assert response.status_code == 200
    assert response.json()["username"] == "alice"
    assert response.json()["token"] is None


def test_session_call_with_an_unsafe_method_needs_the_csrf_token(alice):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(ME, {})
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_session_call_with_csrf_token_passes_csrf_and_reaches_the_view(alice):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get("/accounts/tokens/")  # the page sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    response = client.post(ME, {}, HTTP_X_CSRFTOKEN=csrf)
    # Past authentication and CSRF: the view itself does not allow POST.
    assert response.status_code == 405


def test_token_calls_need_no_csrf_token(alice_token):
    client = APIClient(enforce_csrf_checks=True)
    _token, raw = alice_token
    assert client.post(ME, {}, **bearer(raw)).status_code == 405


def test_the_openapi_schema_describes_token_authentication():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    scheme = schema["components"]["securitySchemes"]["apiToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert {"apiToken": []} in schema["paths"]["/api/v1/me/"]["get"]["security"]


def test_a_token_request_learns_its_role_without_another_query(
    alice_token, project, django_assert_num_queries
):
    from accounts.access import Actor, role_in
    from accounts.authentication import authenticate_token
    from accounts.models import Role

    _, raw = alice_token
    token = authenticate_token(raw)
    with django_assert_num_queries(0):
        assert role_in(actor=Actor(user=token.user, token=token), project=project) == Role.EDITOR


def test_a_token_whose_user_left_the_project_has_no_role(alice_token, bob, project):
    from accounts.access import Actor, role_in
    from accounts.authentication import authenticate_token
    from tests.factories import make_token

    _, raw = make_token(user=bob, project=project)
    project.memberships.filter(user=bob).delete()
    token = authenticate_token(raw)
    assert role_in(actor=Actor(user=token.user, token=token), project=project) is None


def test_a_token_tells_where_it_may_write_without_a_query(
    alice, alice_token, bob, bob_token, project, django_assert_num_queries
):
    from accounts.access import token_project_allowing
    from accounts.authentication import authenticate_token

    alice_actor = Actor(user=alice, token=authenticate_token(alice_token[1]))
    bob_actor = Actor(user=bob, token=authenticate_token(bob_token[1]))
    with django_assert_num_queries(0):
        assert token_project_allowing(alice_actor, Role.EDITOR) == project.pk
        assert token_project_allowing(bob_actor, Role.EDITOR) is None  # bob views only
        assert token_project_allowing(bob_actor, Role.VIEWER) == project.pk
        assert token_project_allowing(Actor(user=alice), Role.VIEWER) is None  # a session
    # Without the role read along with the token it would take a query: the caller asks
    # require_role instead.
    assert token_project_allowing(Actor(user=alice, token=alice_token[0]), Role.VIEWER) is None
