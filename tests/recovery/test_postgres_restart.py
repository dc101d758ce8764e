"""PostgreSQL restarts under a running web process: daphne (as deployed: DEBUG off) on a private
PostgreSQL cluster holding a copy of the test database. The cluster is stopped the hard way
(`pg_ctl -m immediate`: every connection cut, as when the server dies) and started again.

Meanwhile the API answers 503 with the error envelope (`service_unavailable`), pages answer a
503 page, /readyz says not ready; afterwards everything answers again from the same process.
A tip whose transaction is open when the database dies is answered 503 and, retried with the
same Idempotency-Key, charged once and booked once.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings

from payouts.provider.standin import STANDIN, StandInStripe
from tests.factories import UserFactory
from tests.payouts.conftest import follow, make_creator, make_user
from tests.recovery.conftest import (
    Daphne,
    RestartablePostgres,
    RestartableRedis,
    child_env,
    http_status,
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


def collect_static(directory: Path) -> str:
    """Static files as a deployment has them (DEBUG off serves the hashed names of
    `collectstatic`'s manifest, clubhouse/staticfiles.py): the pages render their links."""
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=Path(__file__).resolve().parents[2],
        env=child_env(**DEPLOYED, DJANGO_STATIC_ROOT=str(directory)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert collected.returncode == 0, collected.stderr
    return str(directory)


def test_while_postgres_is_down_the_api_answers_503_and_afterwards_everything_recovers(
    private_postgres: RestartablePostgres, private_redis: RestartableRedis, tmp_path: Path
) -> None:
    member = UserFactory()
    token = session_token(member)
    url = private_postgres.copy_database("recovery")
    static_root = collect_static(tmp_path / "static")
    server = start_daphne(
        tmp_path,
        DATABASE_URL=url,
        REDIS_URL=private_redis.url,
        CHANNEL_PREFIX="pg",
        DJANGO_STATIC_ROOT=static_root,
        **DEPLOYED,
    )
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


def post_json(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 (our server)
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def ledger_report(database: str) -> dict[str, Any]:
    """The ledger of `database` as payouts' own ledger module reads it, in a process of its own
    (the test process's connections belong to the test database)."""
    code = (
        "import json; from payouts import ledger; from payouts.models import Tip; "
        "print(json.dumps({'imbalances': ledger.ledger_imbalances(), "
        "'journals': ledger.journal_count(), "
        "'tips': list(Tip.objects.values_list('status', flat=True))}))"
    )
    done = subprocess.run(  # noqa: S603 (our interpreter and our code)
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=settings.BASE_DIR,
        env=child_env(DATABASE_URL=database),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def insert_waits(url: str) -> bool:
    """A tip INSERT waits for a lock (asked on a connection of its own: within a transaction
    PostgreSQL answers pg_stat_activity from the snapshot it took first)."""
    with psycopg.connect(url, autocommit=True) as watcher:
        row = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE 'INSERT INTO \"payouts_tip\"%'"
        ).fetchone()
    return row == (1,)


def test_a_tip_in_flight_when_postgres_dies_is_charged_once_after_the_retry(
    private_postgres: RestartablePostgres, private_redis: RestartableRedis, tmp_path: Path
) -> None:
    state = tmp_path / "standin.json"
    before = STANDIN.state_file
    STANDIN.reset()
    STANDIN.state_file = str(state)
    try:
        creator, sender = make_creator(), make_user()
        follow(sender, creator)
        STANDIN._save()
        token = session_token(sender)
    finally:
        STANDIN.state_file = before
        STANDIN.reset()
    url = private_postgres.copy_database("recovery")
    journals_before = ledger_report(url)["journals"]
    server = start_daphne(
        tmp_path,
        DATABASE_URL=url,
        # Its own Redis: the rate limits count per user id, and this copy's ids are those of
        # the test database, which other runs on a shared Redis have too.
        REDIS_URL=private_redis.url,
        CHANNEL_PREFIX="recovery-tip",
        PAYOUTS_STANDIN_STATE_FILE=str(state),
    )
    tips = f"{server.url}/api/v1/payouts/tips/"
    body = {"creator": creator.username, "amount": 1000, "payment_method": "pm_card_visa"}
    headers = {"X-Session-Token": token, "Idempotency-Key": "tip-in-flight-1"}
    locker = psycopg.connect(url, autocommit=False)
    answers: list[tuple[int, Any]] = []
    try:
        # Writes to the tips table wait behind this lock (reads do not): the request checks,
        # saves the card, opens its transaction and blocks at the INSERT of its tip.
        locker.execute("LOCK TABLE payouts_tip IN EXCLUSIVE MODE")
        sending = threading.Thread(target=lambda: answers.append(post_json(tips, body, headers)))
        sending.start()
        wait_for(lambda: insert_waits(url), "the tip's INSERT waits", RECOVER_BOUND_S)
        private_postgres.stop("immediate")  # the database dies under the open transaction
        sending.join(timeout=RECOVER_BOUND_S)
        assert answers, "the request got an answer"
        status, answer = answers[0]
        assert status == 503, answer
        assert answer["error"]["code"] == "service_unavailable"

        private_postgres.start()
        wait_for(lambda: http_status(f"{server.url}/readyz") == 200, "ready", RECOVER_BOUND_S)
        # The client retries with the same key, twice (a double tap on "retry").
        status, first = post_json(tips, body, headers)
        assert (status, first["status"]) == (201, "succeeded"), first
        _, again = post_json(tips, body, headers)
        assert again["uuid"] == first["uuid"]
    except BaseException:
        print(f"daphne's log:\n{server.child.output()[-6000:]}")  # noqa: T201
        raise
    finally:
        with contextlib.suppress(psycopg.Error):
            locker.close()
        server.child.stop()

    charged = StandInStripe(str(state)).objects.get("payment_intents", {}).values()
    assert [pi["amount"] for pi in charged] == [first["charge_amount"]], "charged once"
    report = ledger_report(url)
    assert report["tips"] == ["succeeded"]
    assert report["imbalances"] == []
    assert report["journals"] > journals_before  # the tip was booked
