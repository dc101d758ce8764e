"""Every write operation of the REST API is rate limited: walked from the URLconf and checked
against the OpenAPI schema, so a new endpoint that escapes the limits fails here."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient
from rest_framework.views import APIView

from clubhouse.throttling import WRITE_METHODS, parse_rate
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# A value for each kind of path parameter; a write is refused before its view looks anything up.
_SAMPLE = {"int": "987654", "slug": "no-such-club", "uuid": str(uuid.uuid4()), "str": "nobody"}


def _walk(
    patterns: list[URLPattern | URLResolver], prefix: str = "", names: tuple[str, ...] = ()
) -> Iterator[tuple[str, str, type[APIView]]]:
    """(path template, view name, view class) of every DRF view under the API."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            namespace = (pattern.namespace,) if pattern.namespace else ()
            yield from _walk(pattern.url_patterns, route, names + namespace)
        else:
            view_class = getattr(pattern.callback, "view_class", None)
            if view_class is not None and issubclass(view_class, APIView):
                yield route, ":".join([*names, pattern.name or ""]), view_class


def _concrete(route: str) -> str:
    path = route.replace("^", "").replace("$", "")
    path = re.sub(r"<(\w+):\w+>", lambda m: _SAMPLE[m.group(1)], path)
    path = re.sub(r"\(\?P<kind>[^)]*\)", "events", path)
    path = re.sub(r"\(\?P<\w+>\[0-9\]\+\)", _SAMPLE["int"], path)
    return "/" + path


def _write_operations() -> list[tuple[str, str]]:
    found = [
        (method, _concrete(route))
        for route, _name, view_class in _walk(get_resolver().url_patterns)
        for method in sorted(WRITE_METHODS)
        if hasattr(view_class, method.lower())
    ]
    return sorted(found)


WRITES = _write_operations()


def test_the_walk_finds_every_write_the_schema_documents() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    documented = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method.upper() in WRITE_METHODS
    }
    walked = {(method, path) for method, path in WRITES}
    for method, template in documented:
        assert any(m == method and _same_shape(p, template) for m, p in walked), (
            f"{method} {template} is documented but the walk does not reach it"
        )
    assert len(walked) >= len(documented) >= 70


def _same_shape(concrete: str, template: str) -> bool:
    pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
    return re.match(pattern, concrete) is not None


@pytest.mark.parametrize(("method", "path"), WRITES, ids=[f"{m} {p}" for m, p in WRITES])
def test_every_write_operation_is_refused_once_its_limit_is_used_up(
    api_client: APIClient, settings: Any, method: str, path: str
) -> None:
    settings.THROTTLE_RATES = dict.fromkeys(settings.THROTTLE_RATES, "0/h")
    member = UserFactory(is_staff=True, is_superuser=True)
    api_client.force_authenticate(member)
    response = api_client.generic(method, path, data="{}", content_type="application/json")
    assert response.status_code == 429, (response.status_code, response.content[:300])
    assert response.json()["error"]["code"] == "rate_limited"
    assert int(response["Retry-After"]) > 0


def test_every_named_scope_has_a_rate_and_names_a_real_view() -> None:
    for view_name, scope in settings.THROTTLE_VIEW_SCOPES.items():
        assert parse_rate(settings.THROTTLE_RATES[scope])
        reverse_kwargs = _reverse_kwargs(view_name)
        assert resolve(reverse(view_name, kwargs=reverse_kwargs)).view_name == view_name
    for scope, failure_scope in settings.THROTTLE_FAILURE_SCOPES.items():
        assert parse_rate(settings.THROTTLE_RATES[scope])
        assert parse_rate(settings.THROTTLE_RATES[failure_scope])


def _reverse_kwargs(view_name: str) -> dict[str, str]:
    for route, name, _view in _walk(get_resolver().url_patterns):
        if name == view_name:
            params = re.findall(r"<(\w+):(\w+)>|\(\?P<(\w+)>", route)
            kwargs = {}
            for kind, pname, regex_name in params:
                if regex_name:
                    kwargs[regex_name] = "events" if regex_name == "kind" else "1"
                else:
                    kwargs[pname] = _SAMPLE[kind]
            return kwargs
    raise AssertionError(f"{view_name} is in THROTTLE_VIEW_SCOPES but no URL has that name")
