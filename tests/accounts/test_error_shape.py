"""Every accounts endpoint answers bad input in the one error shape
{"error": {"code", "message", "fields"}} with a 4xx status, never a 500 or an HTML page."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

OTHER = "other-person"

# (method, path) for every endpoint; paths with {other} name an existing member.
ENDPOINTS = [
    ("get", "/api/v1/me/"),
    ("patch", "/api/v1/me/"),
    ("get", "/api/v1/me/mutuals/"),
    ("get", "/api/v1/users/{other}/"),
    ("post", "/api/v1/users/{other}/follow/"),
    ("delete", "/api/v1/users/{other}/follow/"),
    ("post", "/api/v1/users/{other}/block/"),
    ("delete", "/api/v1/users/{other}/block/"),
    ("post", "/api/v1/users/{other}/report/"),
    ("get", "/api/v1/users/{other}/followers/"),
    ("get", "/api/v1/users/{other}/following/"),
    ("get", "/api/v1/notifications/"),
    ("get", "/api/v1/notifications/unread-count/"),
    ("post", "/api/v1/notifications/read-all/"),
    ("post", "/api/v1/notifications/999999/read/"),
    ("get", "/api/v1/invitations/"),
    ("post", "/api/v1/invitations/"),
    ("post", "/api/v1/invitations/999999/revoke/"),
    ("post", "/api/v1/invitations/redeem/"),
    ("get", "/api/v1/waitlist/vouches/"),
    ("post", "/api/v1/waitlist/vouches/"),
    ("post", "/api/v1/waitlist/let-in/"),
]

# Endpoints that read a JSON body: wrong types and missing fields for each.
BODY_ENDPOINTS = {
    ("patch", "/api/v1/me/"): (
        {"links": 5, "topics": "music", "display_name": ["x"]},
        {},
    ),
    ("post", "/api/v1/users/{other}/report/"): ({"reason": 5, "text": ["x"]}, {"text": "hi"}),
    ("post", "/api/v1/invitations/"): ({"email": ["a@example.com"], "phone": {}}, {}),
    ("post", "/api/v1/invitations/redeem/"): ({"token": ["abc"]}, {}),
    ("post", "/api/v1/invitations/preview/"): ({"token": {"a": 1}}, {}),
    ("post", "/api/v1/waitlist/vouches/"): ({"username": {"a": 1}}, {}),
    ("post", "/api/v1/waitlist/let-in/"): ({"username": [], "email": 5}, {}),
}

# Endpoints without a body: the bad input is in the path.
PATH_ENDPOINTS = [
    ("get", "/api/v1/users/nobody-here/"),
    ("post", "/api/v1/users/nobody-here/follow/"),
    ("delete", "/api/v1/users/nobody-here/follow/"),
    ("post", "/api/v1/users/nobody-here/block/"),
    ("delete", "/api/v1/users/nobody-here/block/"),
    ("get", "/api/v1/users/nobody-here/followers/"),
    ("get", "/api/v1/users/nobody-here/following/"),
    ("post", "/api/v1/users/nobody-here/report/"),
    ("post", "/api/v1/notifications/999999/read/"),
    ("post", "/api/v1/invitations/999999/revoke/"),
    ("get", "/api/v1/notifications/?unread=perhaps"),
]


def _assert_error_shape(response, status: int | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:200])
    if status is not None:
        assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert {"code", "message", "fields"} <= set(error)
    assert isinstance(error["code"], str)
    assert error["code"]
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["fields"], dict)
    return error


@pytest.fixture
def client() -> APIClient:  # type: ignore[override]
    UserFactory(username=OTHER)
    api = APIClient()
    api.force_authenticate(UserFactory(invitation_quota=5))
    return api


def _send(api: APIClient, method: str, path: str, body: bytes | str = b"", ctype: str = ""):  # type: ignore[no-untyped-def]
    return api.generic(
        method.upper(),
        path.format(other=OTHER),
        data=body,
        content_type=ctype or "application/json",
    )


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_unauthenticated_requests_get_401(method: str, path: str) -> None:
    UserFactory(username=OTHER)
    error = _assert_error_shape(_send(APIClient(), method, path, b"{}"), 401)
    assert error["code"] == "not_authenticated"


@pytest.mark.parametrize(("method", "path"), list(BODY_ENDPOINTS))
def test_malformed_json_is_400_malformed_request(client: APIClient, method: str, path: str) -> None:
    error = _assert_error_shape(_send(client, method, path, b'{"unterminated": '), 400)
    assert error["code"] == "malformed_request"


@pytest.mark.parametrize(("method", "path"), list(BODY_ENDPOINTS))
def test_wrong_types_are_400_with_field_errors(client: APIClient, method: str, path: str) -> None:
    wrong, _ = BODY_ENDPOINTS[(method, path)]
    error = _assert_error_shape(_send(client, method, path, json.dumps(wrong)), 400)
    assert error["code"] == "invalid"
    assert error["fields"], error


@pytest.mark.parametrize(("method", "path"), list(BODY_ENDPOINTS))
def test_missing_fields_are_400(client: APIClient, method: str, path: str) -> None:
    _, missing = BODY_ENDPOINTS[(method, path)]
    error = _assert_error_shape(_send(client, method, path, json.dumps(missing)), 400)
    assert error["code"] == "invalid"


@pytest.mark.parametrize(("method", "path"), list(BODY_ENDPOINTS))
def test_a_json_array_instead_of_an_object_is_400(
    client: APIClient, method: str, path: str
) -> None:
    error = _assert_error_shape(_send(client, method, path, "[1, 2]"), 400)
    assert error["code"] == "invalid"


@pytest.mark.parametrize(("method", "path"), list(BODY_ENDPOINTS))
def test_an_unsupported_content_type_is_415(client: APIClient, method: str, path: str) -> None:
    error = _assert_error_shape(_send(client, method, path, "<x/>", "application/xml"), 415)
    assert error["code"] == "unsupported_media_type"


@pytest.mark.parametrize(("method", "path"), PATH_ENDPOINTS)
def test_bad_path_input_is_a_4xx_in_the_error_shape(
    client: APIClient, method: str, path: str
) -> None:
    _assert_error_shape(_send(client, method, path))


def test_wrong_method_is_405_in_the_error_shape(client: APIClient) -> None:
    error = _assert_error_shape(client.put("/api/v1/me/", {}, format="json"), 405)
    assert error["code"] == "method_not_allowed"
