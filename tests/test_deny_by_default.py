"""Deny by default: every route answers an anonymous caller with 401 or a redirect to log in.

The test walks the project's whole URLconf, so a route someone adds later is covered without
anyone writing a test for it. URL arguments are filled from each route's own regular expression
(converters included), so no fixture or object is needed: a route must refuse an anonymous
caller before it looks anything up, or it would tell strangers which objects exist.
"""

from __future__ import annotations

import re
import re._constants as sre
import re._parser as sre_parse
from dataclasses import dataclass
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.exceptions import Resolver404

pytestmark = pytest.mark.django_db

# Routes an anonymous caller may use, each with the reason. Everything else must refuse them.
# Keys are namespaced route names, or the full regular expression of an unnamed route.
# (Static files are served by WhiteNoise's middleware and are not URL patterns.)
PUBLIC = {
    "login": "the log-in page itself",
    "admin:login": "Django admin's log-in page",
    "healthz": "the load balancer's health check, which shows no data",
    "health": "MLflow's health probe, which answers OK and nothing else",
    "mlflow-server-info": "MLflow's feature flags, which clients read before logging in",
    "mlflow-server-info-ajax": "the same flags under /ajax-api, as MLflow's server has them",
    "accounts:signup": "self sign-up; answers 404 unless MLPLATFORM_SIGNUP_ENABLED is on",
}

# A value for a URL argument whose name says what it is, where a value drawn from its regular
# expression alone would be refused before authentication (DRF rejects unknown format suffixes).
SAMPLE_BY_NAME = {"format": "json"}

METHODS = ("get", "post", "put", "patch", "delete")
MAX_REDIRECTS = 4


@dataclass(frozen=True)
class Route:
    name: str
    regex: str
    callback: object

    @property
    def label(self) -> str:
        return self.name or self.regex


def walk(resolver: URLResolver | None = None, prefix: str = "", namespace: str = ""):
    """Every endpoint of the URLconf, with its full regular expression and namespaced name."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        regex = entry.pattern.regex.pattern.removeprefix("^")
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}{entry.namespace}:"
            yield from walk(entry, prefix + regex, inner)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else ""
            yield Route(name=name, regex=prefix + regex, callback=entry.callback)


# --- a tiny generator of one string matching a regular expression ---------------------------

_PREFERRED = "abcdef1234567890xyzABCDEF-_.~"


def _char_in(items, variant: int) -> str:
    negate = any(op is sre.NEGATE for op, _ in items)

    def matches(ch: str) -> bool:
        code = ord(ch)
        hit = False
        for op, arg in items:
            if op is sre.LITERAL:
                hit |= code == arg
            elif op is sre.RANGE:
                hit |= arg[0] <= code <= arg[1]
            elif op is sre.CATEGORY:
                hit |= bool(re.fullmatch(_CATEGORY[arg], ch))
        return hit != negate

    candidates = _PREFERRED[variant:] + _PREFERRED[:variant]
    for ch in candidates:
        if matches(ch):
            return ch
    for code in range(32, 127):
        if matches(chr(code)):
            return chr(code)
    raise ValueError(f"no printable character matches {items}")


_CATEGORY = {
    sre.CATEGORY_DIGIT: r"\d",
    sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_WORD: r"\w",
    sre.CATEGORY_NOT_WORD: r"\W",
    sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_NOT_SPACE: r"\S",
}


def _generate(nodes, names: dict[int, str], groups: dict[int, str], variant: int) -> str:
    out = []
    for op, arg in nodes:
        if op is sre.LITERAL:
            out.append(chr(arg))
        elif op is sre.NOT_LITERAL:
            out.append(_char_in([(sre.NEGATE, None), (sre.LITERAL, arg)], variant))
        elif op is sre.IN:
            out.append(_char_in(arg, variant))
        elif op is sre.ANY:
            out.append(_PREFERRED[variant])
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
            low, high, sub = arg
            count = low if low > 0 else min(1, high)
            out.append("".join(_generate(sub, names, groups, variant) for _ in range(count)))
        elif op is sre.SUBPATTERN:
            group, _add, _del, sub = arg
            text = SAMPLE_BY_NAME.get(names.get(group, ""))
            if text is None:
                text = _generate(sub, names, groups, variant)
            if group is not None:
                groups[group] = text
            out.append(text)
        elif op is sre.BRANCH:
            out.append(_generate(arg[1][0], names, groups, variant))
        elif op is sre.GROUPREF:
            out.append(groups.get(arg, ""))
        elif op is getattr(sre, "ATOMIC_GROUP", None):
            out.append(_generate(arg, names, groups, variant))
        elif op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
            continue
        else:
            raise ValueError(f"cannot generate a string for regex opcode {op}")
    return "".join(out)


def sample_path(route: Route) -> str:
    """A path that resolves to this route, with dummy values for its arguments."""
    parsed = sre_parse.parse(route.regex)
    names = {index: name for name, index in parsed.state.groupdict.items()}
    for variant in range(4):
        path = "/" + _generate(list(parsed), names, {}, variant)
        try:
            match = resolve(path)
        except Resolver404:
            continue
        if match.func is route.callback or getattr(match.func, "__wrapped__", None) is getattr(
            route.callback, "__wrapped__", route.callback
        ):
            return path
    raise AssertionError(
        f"No dummy path resolves to {route.label} ({route.regex}); add a value for its "
        "argument to SAMPLE_BY_NAME in tests/test_deny_by_default.py."
    )


# --- the rule ------------------------------------------------------------------------------


def login_paths() -> set[str]:
    return {reverse(settings.LOGIN_URL), reverse("admin:login")}


def verdict(client: Client, method: str, path: str) -> str:
    """'denied' (401, or redirects that end at a log-in page), 'method' (405), or what it was."""
    response = getattr(client, method)(path)
    if response.status_code == 401:
        assert response.has_header("WWW-Authenticate"), f"{method} {path}: 401 without a scheme"
        return "denied"
    if response.status_code == 405:
        return "method"
    for _ in range(MAX_REDIRECTS):
        if response.status_code not in (301, 302, 303, 307, 308):
            break
        target = urlparse(response["Location"]).path
        if target in login_paths():
            return "denied"
        response = client.get(target)
    return f"{response.status_code} {response.get('Location', '')}".strip()


def routes() -> list[Route]:
    return [route for route in walk() if route.label not in PUBLIC]


@pytest.mark.parametrize("route", routes(), ids=lambda route: route.label)
def test_anonymous_callers_are_refused(route):
    client = Client()
    path = sample_path(route)
    answers = {method: verdict(client, method, path) for method in METHODS}
    wrong = {
        method: answer for method, answer in answers.items() if answer not in {"denied", "method"}
    }
    assert not wrong, f"{route.label} at {path} answers anonymous callers with {wrong}"
    assert "denied" in answers.values(), f"{route.label} at {path} refuses every method with 405"


def test_the_walk_covers_pages_apis_and_admin():
    names = {route.name for route in walk()}
    assert {"home", "accounts:tokens", "accounts:members", "api-me", "admin:index"} <= names
    assert set(PUBLIC) <= names | {"accounts:signup"}


def test_dummy_arguments_resolve_to_their_own_route():
    members = next(route for route in walk() if route.name == "accounts:members")
    assert re.fullmatch(r"/accounts/projects/[-\w]+/members/", sample_path(members))
    revoke = next(route for route in walk() if route.name == "accounts:token_revoke")
    assert re.fullmatch(r"/accounts/tokens/\d+/revoke/", sample_path(revoke))


def test_a_route_that_answers_anonymous_callers_would_be_caught(alice):
    # The rule itself can fail: a signed-in caller is not refused, so the same check says so.
    client = Client()
    client.force_login(alice)
    assert verdict(client, "get", "/accounts/tokens/") == "200"


def test_drf_denies_by_default():
    assert settings.REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"] == [
        "rest_framework.permissions.IsAuthenticated"
    ]
