"""Logs and errors (clubhouse/logs.py, docs/operations.md "Logs and errors"): every request has an
id, returned in `X-Request-ID` and carried by every JSON log line written for it."""

from __future__ import annotations

import gzip
import http.server
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from django.test import AsyncClient, Client

from clubhouse.logs import HEADER, MAX_LENGTH, request_id_bound
from tests.conftest import JsonLogs

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]
GENERATED = re.compile(r"[0-9a-f]{32}")


def test_a_response_names_the_request_id_it_was_given(client: Client) -> None:
    response = client.get("/livez", HTTP_X_REQUEST_ID="lb-7f3a:9")
    assert response[HEADER] == "lb-7f3a:9"


def test_a_request_without_an_id_gets_a_new_one(client: Client) -> None:
    first, second = client.get("/livez"), client.get("/livez")
    assert GENERATED.fullmatch(first[HEADER])
    assert GENERATED.fullmatch(second[HEADER])
    assert first[HEADER] != second[HEADER]


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("x" * (MAX_LENGTH + 1), id="too-long"),
        pytest.param("two words", id="a-space"),
        pytest.param("tab\there", id="a-control-character"),
        pytest.param("caf\u00e9", id="not-ascii"),
        pytest.param("", id="empty"),
    ],
)
def test_an_invalid_incoming_request_id_is_replaced(client: Client, bad: str) -> None:
    response = client.get("/livez", HTTP_X_REQUEST_ID=bad)
    assert GENERATED.fullmatch(response[HEADER])


def test_the_longest_valid_request_id_is_kept(client: Client) -> None:
    longest = "a" * MAX_LENGTH
    assert client.get("/livez", HTTP_X_REQUEST_ID=longest)[HEADER] == longest


async def test_an_async_request_names_its_id_too(async_client: AsyncClient) -> None:
    response = await async_client.get("/livez", headers={"X-Request-ID": "async-1"})
    assert response[HEADER] == "async-1"


def test_a_requests_log_lines_are_json_and_carry_its_id(
    client: Client, json_logs: JsonLogs
) -> None:
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID="probe-404")
    assert response.status_code == 404

    (line,) = [line for line in json_logs.lines() if line["logger"] == "django.request"]
    assert line["request_id"] == "probe-404"
    assert line["level"] == "WARNING"
    assert "/no-such-page/" in str(line["message"])
    assert datetime.fromisoformat(str(line["time"])).utcoffset() is not None


def test_a_log_line_outside_any_request_has_a_null_request_id(json_logs: JsonLogs) -> None:
    logging.getLogger("clubhouse.test").info("no request here")
    (line,) = json_logs.lines()
    assert line["request_id"] is None
    assert line["message"] == "no request here"


def test_an_exception_is_logged_with_its_traceback_on_the_same_line(json_logs: JsonLogs) -> None:
    with request_id_bound("probe-exc"):
        try:
            raise ValueError("the ledger does not balance")
        except ValueError:
            logging.getLogger("clubhouse.test").exception("reconciling failed")
    (line,) = json_logs.lines()
    assert line["request_id"] == "probe-exc"
    assert line["level"] == "ERROR"
    assert "Traceback" in str(line["exception"])
    assert "ValueError: the ledger does not balance" in str(line["exception"])


# --- which format a process writes (settings: LOG_FORMAT) --------------------------------------

PROBE = (
    "import django, logging; django.setup(); "
    "logging.getLogger('clubhouse.probe').warning('probe line')"
)


def _process_log(**env: str) -> subprocess.CompletedProcess[str]:
    """A fresh Django process's stderr after one warning, under `env` (nothing else of ours)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LOG_", "DJANGO_DEBUG"))}
    base.update(
        {"DJANGO_SECRET_KEY": "probe-" + "k" * 50, "DJANGO_SETTINGS_MODULE": "clubhouse.settings"}
    )
    return subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_deployed_process_logs_json_by_default() -> None:
    done = _process_log(DJANGO_DEBUG="0")
    assert done.returncode == 0, done.stderr
    (line,) = [json.loads(text) for text in done.stderr.splitlines() if "probe line" in text]
    assert (line["level"], line["logger"], line["message"]) == (
        "WARNING",
        "clubhouse.probe",
        "probe line",
    )
    assert line["request_id"] is None


def test_debug_logs_plain_text_unless_asked_for_json() -> None:
    plain = _process_log(DJANGO_DEBUG="1")
    (text,) = [t for t in plain.stderr.splitlines() if "probe line" in t]
    assert text.endswith("WARNING clubhouse.probe probe line")

    asked = _process_log(DJANGO_DEBUG="1", LOG_FORMAT="json")
    (text,) = [t for t in asked.stderr.splitlines() if "probe line" in t]
    assert json.loads(text)["message"] == "probe line"


def test_an_unknown_log_format_stops_the_process_with_a_clear_error() -> None:
    done = _process_log(DJANGO_DEBUG="1", LOG_FORMAT="xml")
    assert done.returncode != 0
    assert "LOG_FORMAT='xml': use `json` or `plain`." in done.stderr


# --- Celery: a task logs under the id of the request that queued it ---------------------------


def _worker_env(queue_db: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LOG_", "DJANGO_DEBUG"))}
    return {
        **base,
        "DJANGO_DEBUG": "0",  # a deployed worker: JSON lines by default
        "DJANGO_SECRET_KEY": "probe-" + "k" * 50,
        "DATABASE_URL": queue_db,
        "CELERY_TASK_ALWAYS_EAGER": "0",
    }


@pytest.mark.django_db(transaction=True)
def test_a_celery_workers_lines_are_json_and_a_task_carries_its_requests_id(
    redis_url: str, tmp_path: Path
) -> None:
    from django.db import connection

    from accounts.tasks import invitation_email_send
    from clubhouse.celery import app

    # The worker reads this test's database, and a queue of this test's own (other runs share
    # the broker).
    base_url = os.environ["DATABASE_URL"]
    test_db_url = base_url.rsplit("/", 1)[0] + "/" + str(connection.settings_dict["NAME"])
    queue = f"logs-{uuid.uuid4().hex[:10]}"
    stderr_path = tmp_path / "worker.err"
    command = [sys.executable, "-m", "celery", "-A", "clubhouse", "-q", "worker", "-P", "solo"]
    command += ["-Q", queue, "--without-heartbeat", "--without-gossip", "--without-mingle"]
    with stderr_path.open("w") as stderr:
        worker = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
            command,
            cwd=ROOT,
            env=_worker_env(test_db_url),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        with request_id_bound("probe-task-1"):
            invitation_email_send.apply_async(args=(0, "no-such-token"), queue=queue)
        finished = _wait_for_line(stderr_path, "succeeded", worker)
    finally:
        app.conf.task_always_eager = eager
        _stop(worker)

    assert finished["request_id"] == "probe-task-1"
    assert finished["logger"] == "celery.app.trace"
    assert "accounts.tasks.invitation_email_send" in str(finished["message"])
    lines = [text for text in stderr_path.read_text().splitlines() if text.strip()]
    assert lines
    assert [text for text in lines if not _is_json_log_line(text)] == []


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if it has not stopped in 30 s: these tests look at what a process
    wrote, not at how it stops (on a loaded machine beat's shutdown sync can take a while)."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _is_json_log_line(text: str) -> bool:
    try:
        line = json.loads(text)
    except ValueError:
        return False
    return isinstance(line, dict) and {"time", "level", "logger", "message"} <= line.keys()


def _wait_for_line(path: Path, needle: str, process: subprocess.Popen[bytes]) -> dict[str, object]:
    """The first JSON line of `path` whose message has `needle` (60 s at most: a bound on a
    loaded machine, not a timing target)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for text in path.read_text().splitlines():
            if needle in text and _is_json_log_line(text):
                return dict(json.loads(text))
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"no {needle!r} line from the worker; it wrote:\n{path.read_text()}")


# --- Sentry (SENTRY_DSN) ------------------------------------------------------------------------


class _SentryStandIn(http.server.BaseHTTPRequestHandler):
    """Takes what a Sentry SDK posts, as a Sentry server would (200), and keeps the bodies."""

    received: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        elif self.headers.get("Content-Encoding") == "br":
            import brotli  # only if sentry_sdk found it installed

            body = brotli.decompress(body)
        type(self).received.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def sentry_server() -> Iterator[tuple[str, list[bytes]]]:
    received: list[bytes] = []
    handler = type("Handler", (_SentryStandIn,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://probe-public-key@127.0.0.1:{server.server_address[1]}/42", received
    finally:
        server.shutdown()
        server.server_close()


SENTRY_PROBE = """
import os, sys, types
import django
django.setup()
import sentry_sdk
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.utils import override_settings
from django.urls import path
import clubhouse.urls

def boom(request):
    raise RuntimeError("boom probe " + request.user.username)

urls = types.ModuleType("probe_urls")
urls.urlpatterns = [path("probe/boom/", boom), *clubhouse.urls.urlpatterns]
sys.modules["probe_urls"] = urls
client = Client(raise_request_exception=False)
client.force_login(get_user_model().objects.get(email=os.environ["PROBE_EMAIL"]))
client.cookies["probe_cookie"] = "cookie-secret-value"
with override_settings(ROOT_URLCONF="probe_urls"):
    response = client.post(
        "/probe/boom/", {"note": "body-secret-value"}, HTTP_X_REQUEST_ID="probe-sentry-1"
    )
print(response.status_code, response["X-Request-ID"])
sentry_sdk.flush(timeout=20)
"""


@pytest.mark.django_db(transaction=True)
def test_a_failing_request_reaches_sentry_tagged_with_its_request_id_and_no_personal_data(
    sentry_server: tuple[str, list[bytes]],
) -> None:
    from django.db import connection

    from tests.factories import UserFactory

    dsn, received = sentry_server
    UserFactory(username="probeuser", email="secret-person@example.com")
    base_url = os.environ["DATABASE_URL"]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")},
        "DJANGO_DEBUG": "1",
        "SENTRY_DSN": dsn,
        "PROBE_EMAIL": "secret-person@example.com",
        "DATABASE_URL": base_url.rsplit("/", 1)[0] + "/" + str(connection.settings_dict["NAME"]),
    }
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", SENTRY_PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["500", "probe-sentry-1"]

    events = [item for body in received for item in _envelope_items(body, "event")]
    (event,) = [e for e in events if "boom probe" in json.dumps(e.get("exception"))]
    assert event["tags"]["request_id"] == "probe-sentry-1"
    assert event["environment"] == "development"
    assert event["release"].startswith("clubhouse@")
    everything = b"".join(received).decode()
    assert "secret-person@example.com" not in everything
    assert "cookie-secret-value" not in everything
    assert "body-secret-value" not in everything
    assert "sessionid" not in everything


def _envelope_items(body: bytes, kind: str) -> list[dict[str, Any]]:
    """The payloads of an envelope's items of type `kind` (header line, then item header and
    payload lines)."""
    lines = body.split(b"\n")
    items = []
    for header, payload in zip(lines[1::2], lines[2::2], strict=False):
        if header.strip() and json.loads(header).get("type") == kind:
            items.append(json.loads(payload))
    return items


def test_without_a_dsn_sentry_is_not_even_imported() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, sys; django.setup(); print('sentry_sdk' in sys.modules)",
        ],
        cwd=ROOT,
        env={**env, "DJANGO_DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("rate", ["lots", "1.5", "-0.1"])
def test_a_traces_sample_rate_that_is_not_a_fraction_stops_the_process(rate: str) -> None:
    done = _process_log(
        DJANGO_DEBUG="1",
        SENTRY_DSN="http://probe-public-key@127.0.0.1:9/42",
        SENTRY_TRACES_SAMPLE_RATE=rate,
    )
    assert done.returncode != 0
    assert (
        f"SENTRY_TRACES_SAMPLE_RATE must be a fraction from 0 to 1 (e.g. 0.05), not {rate!r}."
        in (done.stderr)
    )


# --- the web process: daphne -v 0, every line JSON ---------------------------------------------


APP = "clubhouse.asgi:application"


def test_a_deployed_web_process_writes_only_json_lines_with_an_access_line_per_request(
    tmp_path: Path,
) -> None:
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOG_", "DJANGO_", "SENTRY_"))}
    env.update(
        {
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "probe-" + "k" * 50,
            "DJANGO_SECURE_SSL_REDIRECT": "0",
        }
    )
    output = tmp_path / "daphne.out"
    with output.open("w") as out:
        web = subprocess.Popen(  # noqa: S603 - this interpreter's daphne, fixed arguments
            [sys.executable, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port), APP],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        answer = None
        deadline = time.monotonic() + 60  # start-up on a loaded machine: a bound, not a target
        while answer is None and time.monotonic() < deadline and web.poll() is None:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/livez", headers={"X-Request-ID": "probe-web-1"}
            )
            try:
                answer = urllib.request.urlopen(request, timeout=5)  # noqa: S310 - our server
            except OSError:
                time.sleep(0.2)
        assert answer is not None, output.read_text()
        assert answer.headers["X-Request-ID"] == "probe-web-1"
    finally:
        _stop(web)

    lines = [text for text in output.read_text().splitlines() if text.strip()]
    assert [text for text in lines if not _is_json_log_line(text)] == []
    (access,) = [
        json.loads(text) for text in lines if json.loads(text)["logger"] == "clubhouse.access"
    ]
    assert access["request_id"] == "probe-web-1"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/livez", 200)


@pytest.mark.django_db(transaction=True)
def test_celery_beats_lines_are_json(tmp_path: Path) -> None:
    from django.db import connection

    base_url = os.environ["DATABASE_URL"]
    test_db_url = base_url.rsplit("/", 1)[0] + "/" + str(connection.settings_dict["NAME"])
    # An in-memory broker: what beat sends goes nowhere (no shared queue gets this test's tasks).
    env = {**_worker_env(test_db_url), "CELERY_BROKER_URL": "memory://"}
    stderr_path = tmp_path / "beat.err"
    with stderr_path.open("w") as stderr:
        beat = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "clubhouse", "-q", "beat"],
            cwd=ROOT,
            env=env,
            stdout=stderr,
            stderr=subprocess.STDOUT,
        )
    try:
        started = _wait_for_line(stderr_path, "beat: Starting", beat)
    finally:
        _stop(beat)
    assert started["logger"] == "celery.beat"
    lines = [text for text in stderr_path.read_text().splitlines() if text.strip()]
    assert [text for text in lines if not _is_json_log_line(text)] == []
