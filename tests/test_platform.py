"""The platform's promises: health, the error shape, the schema, the home page."""

from typing import Any

import pytest
from django.test import Client

from media_relay.placement import relay_registry
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_healthz_says_one_word_per_part_and_nothing_else(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "components": {"database": "ok", "channel_layer": "ok", "relay": "ok", "beat": "ok"},
    }


def test_livez_answers_without_checking_anything(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> dict:
        raise ConnectionError("refused")

    monkeypatch.setattr("clubhouse.health.check_database", broken)
    response = client.get("/livez")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.parametrize("path", ["/livez", "/readyz"])
def test_health_probes_over_plain_http_are_answered_not_redirected_to_https(
    path: str, settings: Any
) -> None:
    # A container's HEALTHCHECK and a load balancer probe the web port directly, over HTTP.
    settings.SECURE_SSL_REDIRECT = True
    http = Client()  # the security middleware reads its settings when the handler is built
    assert http.get("/").status_code == 301
    assert http.get(path).status_code == 200


def test_healthz_is_503_without_internals_when_the_database_is_down(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> dict:
        raise ConnectionError("connection to db-primary.internal:5432 refused")

    monkeypatch.setattr("clubhouse.health.check_database", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["components"]["database"] == "down"
    assert b"db-primary" not in response.content
    assert b"ConnectionError" not in response.content


def test_readyz_asks_only_what_this_web_node_needs(client: Client) -> None:
    response = client.get("/readyz")
    assert (response.status_code, response.json()) == (
        200, {"status": "ok", "components": {"database": "ok", "channel_layer": "ok"}},
    )  # fmt: skip


def test_readyz_is_503_without_internals_when_the_channel_layer_is_down(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> dict:
        raise ConnectionError("redis-7.internal:6379 refused")

    monkeypatch.setattr("clubhouse.health.check_channel_layer", broken)
    for url in ("/readyz", "/healthz"):
        response = client.get(url)
        assert response.status_code == 503, url
        assert response.json()["components"]["channel_layer"] == "down"
        assert b"redis-7" not in response.content
        assert b"ConnectionError" not in response.content


@pytest.mark.parametrize("part", ["relay", "beat"])
def test_a_relay_or_beat_outage_never_takes_the_web_node_out(
    client: Client, monkeypatch: pytest.MonkeyPatch, part: str
) -> None:
    """The load balancer keeps sending people to the web tier, which still serves pages, the
    API and sockets; the outage shows in the overview and, for staff, in the details."""

    def broken() -> dict:
        raise ConnectionError("no relay worker has sent a heartbeat")

    monkeypatch.setattr(
        "clubhouse.health.check_relay"
        if part == "relay"
        else "clubhouse.health.beat_embedded_health",
        broken,
    )
    assert client.get("/readyz").status_code == 200
    overview = client.get("/healthz")
    assert overview.status_code == 200
    assert overview.json()["status"] == "degraded"
    assert overview.json()["components"][part] == "down"
    client.force_login(UserFactory(is_staff=True))
    details = client.get("/healthz/details")
    assert details.status_code == 503  # a monitor alerts on it
    assert details.json()[part]["ok"] is False


def test_healthz_hides_relay_workers_hosts_pids_and_pipes(client: Client) -> None:
    registry = relay_registry()
    registry.heartbeat(
        "relay-health-test", {"host": "10.0.0.7", "pid": 4242, "pipe": "10.0.0.7:7001", "rooms": 1}
    )
    try:
        response = client.get("/healthz")
        assert response.json()["components"]["relay"] == "ok"
        for secret in (b"10.0.0.7", b"4242", b"7001", b"relay-health-test"):
            assert secret not in response.content
        client.force_login(UserFactory(is_staff=True))
        details = client.get("/healthz/details").json()["relay"]["workers"]
        assert {"worker_id": "relay-health-test", "pipe": "10.0.0.7:7001"}.items() <= next(
            w for w in details if w["worker_id"] == "relay-health-test"
        ).items()
    finally:
        registry.unregister("relay-health-test")


def test_healthz_details_are_refused_to_anonymous_and_members(client: Client) -> None:
    response = client.get("/healthz/details")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "health_details_forbidden"
    client.force_login(UserFactory())
    assert client.get("/healthz/details").status_code == 403


def test_healthz_details_for_staff(client: Client) -> None:
    client.force_login(UserFactory(is_staff=True))
    response = client.get("/healthz/details")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["channel_layer"]["ok"] is True
    assert "relay" in body
    assert body["beat"]["ok"] is True  # "embedded" here (no broker) or "celery beat"


def test_healthz_details_for_a_monitor_with_the_token(
    client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.HEALTH_TOKEN = "monitor-secret"
    assert client.get("/healthz/details", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403

    def broken() -> dict:
        raise ConnectionError("refused")

    monkeypatch.setattr("clubhouse.health.check_database", broken)
    response = client.get("/healthz/details", HTTP_AUTHORIZATION="Bearer monitor-secret")
    assert response.status_code == 503
    assert response.json()["database"]["error"] == "ConnectionError: refused"


def test_healthz_details_need_a_configured_token(client: Client, settings: Any) -> None:
    settings.HEALTH_TOKEN = ""
    assert client.get("/healthz/details", HTTP_AUTHORIZATION="Bearer ").status_code == 403


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
