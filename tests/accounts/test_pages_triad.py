"""The triad on every account page of project P: alice manages, bob views, charlie is outside."""

import pytest

pytestmark = pytest.mark.django_db

# path, alice, bob, charlie (anonymous callers always go to the log-in page)
READS = [
    ("/accounts/projects/alpha/members/", 200, 200, 404),
    ("/accounts/projects/alpha/tokens/", 200, 403, 404),
    ("/accounts/projects/alpha/audit/", 200, 403, 404),
    ("/accounts/tokens/", 200, 200, 200),
]


@pytest.fixture
def users(alice, bob, charlie, project, other_project):
    return {"alice": alice, "bob": bob, "charlie": charlie}


@pytest.mark.parametrize(("path", "for_alice", "for_bob", "for_charlie"), READS)
def test_each_page_answers_each_user_as_their_role_allows(
    client, users, path, for_alice, for_bob, for_charlie
):
    for name, expected in (("alice", for_alice), ("bob", for_bob), ("charlie", for_charlie)):
        client.force_login(users[name])
        assert client.get(path).status_code == expected, f"{name} on {path}"


@pytest.mark.parametrize("path", [path for path, *_ in READS])
def test_anonymous_callers_are_sent_to_log_in(client, project, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_nav_links_to_access_tokens(client, alice):
    client.force_login(alice)
    assert 'href="/accounts/tokens/"' in client.get("/accounts/tokens/").content.decode()
