"""The platform's promises: health, the error shape, the schema, the home page."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_healthz_reports_each_part_as_json(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["channel_layer"]["ok"] is True
    assert "relay" in body
    assert body["beat"]["ok"] is True  # "embedded" here (no broker) or "celery beat"


def test_healthz_is_503_when_the_database_is_down(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> dict:
        raise ConnectionError("refused")

    monkeypatch.setattr("clubhouse.health.check_database", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["database"]["ok"] is False
    assert body["database"]["error"] == "ConnectionError: refused"


def test_unknown_api_path_answers_json_404(client: Client) -> None:
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "Not found.", "fields": {}}
    }


def test_openapi_schema_and_docs_are_served(client: Client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")
    assert client.get("/api/docs/").status_code == 200


def test_home_page_and_admin_login_are_served(client: Client) -> None:
    assert b"Live audio rooms" in client.get("/").content
    # the admin logs in through the site's (rate-limited) login: tests/accounts/test_login_limits
    admin_login = client.get("/admin/login/", follow=True)
    assert admin_login.status_code == 200
    assert admin_login.redirect_chain[-1][0].startswith("/accounts/login/")
