"""API clients for the triad: alice writes with her token, bob reads, charlie is outside."""

import pytest

from accounts.models import TokenScope
from tests.factories import make_token

from .helpers import client_for


@pytest.fixture
def alice_api(alice_token):
    return client_for(alice_token[1])


@pytest.fixture
def bob_api(bob, project):
    """A read token of bob's, who views project P."""
    return client_for(make_token(user=bob, project=project, scope=TokenScope.READ)[1])


@pytest.fixture
def charlie_api(charlie_token):
    return client_for(charlie_token[1])
