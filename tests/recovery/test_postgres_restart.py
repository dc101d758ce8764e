"""PostgreSQL restarts under a running web process: daphne (as deployed: DEBUG off) on a private
PostgreSQL cluster holding a copy of the test database. The cluster is stopped the hard way
(`pg_ctl -m immediate`: every connection cut, as when the server dies) and started again.

Meanwhile the API answers 503 with the error envelope (`service_unavailable`), pages answer a
503 page, /readyz says not ready; afterwards everything answers again from the same process.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.factories import UserFactory
from tests.recovery.conftest import (
    Daphne,
    RestartablePostgres,
    session_token,
    start_daphne,
    wait_for,
)

pytestmark = [pytest.mark.django_db(transaction=True)]

RECOVER_BOUND_S = 60.0
# A web process as deployed: DEBUG off (Django's own error pages, not the debug ones), plain
# http on loopback.
DEPLOYED = {
    "DJANGO_DEBUG": "0",
    # the sessions the test makes are signed with the test process's key
    "DJANGO_SECRET_KEY": settings.SECRET_KEY,
    "DJANGO_SECURE_SSL_REDIRECT": "0",
    "DJANGO_SESSION_COOKIE_SECURE": "0",
    "DJANGO_CSRF_COOKIE_SECURE": "0",
}


def fetch(url: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (our server)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


class Probe:
    def __init__(self, server: Daphne, token: str) -> None:
        self.server = server
        self.token = token

    def api(self) -> tuple[int, str, bytes]:
        return fetch(f"{self.server.url}/api/v1/me/", {"X-Session-Token": self.token})

    def page(self) -> tuple[int, str, bytes]:
        return fetch(f"{self.server.url}/notifications/", {"Cookie": f"sessionid={self.token}"})

    def ready(self) -> tuple[int, str, bytes]:
        return fetch(f"{self.server.url}/readyz", {})


def envelope(body: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(body)["error"]
    return data


def test_while_postgres_is_down_the_api_answers_503_and_afterwards_everything_recovers(
    private_postgres: RestartablePostgres, tmp_path: Path
) -> None:
    member = UserFactory()
    token = session_token(member)
    url = private_postgres.copy_database("recovery")
    server = start_daphne(tmp_path, DATABASE_URL=url, CHANNEL_PREFIX="recovery-pg", **DEPLOYED)
    probe = Probe(server, token)
    try:
        assert probe.api()[0] == 200
        assert probe.page()[0] == 200
        assert probe.ready()[0] == 200

        private_postgres.stop("immediate")

        status, content_type, body = probe.api()
        assert (status, content_type) == (503, "application/json"), body[:300]
        error = envelope(body)
        assert error["code"] == "service_unavailable"
        assert error["message"]

        status, content_type, body = probe.page()
        assert status == 503, body[:300]
        assert content_type.startswith("text/html")
        assert b"unavailable" in body.lower()

        status, _, body = probe.ready()
        assert status == 503
        assert json.loads(body)["components"]["database"] != "ok"

        private_postgres.start()
        wait_for(lambda: probe.ready()[0] == 200, "/readyz says ready again", RECOVER_BOUND_S)
        wait_for(lambda: probe.api()[0] == 200, "the API answers again", RECOVER_BOUND_S)
        assert json.loads(probe.api()[2])["id"] == member.pk
        assert probe.page()[0] == 200
        assert server.child.alive(), "the same process, never restarted"
    except BaseException:
        print(f"daphne's log:\n{server.child.output()[-6000:]}")  # noqa: T201
        raise
    finally:
        server.child.stop()
