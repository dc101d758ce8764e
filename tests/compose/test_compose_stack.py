"""deploy/compose.yaml as a self-hoster runs it, on this machine: PostgreSQL, Redis, migrations
once, two web processes behind Caddy (TLS from Caddy's internal CA), two relay workers on the host
network, a Celery worker, beat and coturn. People sign up through Caddy like anyone would, and a
listener hears a speaker's tone through Caddy's wss:// URL and the stack's own relay workers.

Run by `make compose-test` (tests/compose/conftest.py): it starts dockerd if needed, makes the
base image and builds the images; this module brings the stack up and always takes it down.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from media_relay.testing import ListenerClient, SpeakerClient, wait_for
from rooms.client import RoomClient

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
PROJECT = "clubhouse-composetest"
# Ports of the stack on 127.0.0.1, clear of this machine's own PostgreSQL (5432) and Redis (6379).
PORTS = {
    "POSTGRES_PORT": 55432,
    "REDIS_PORT": 56379,
    "WEB_1_PORT": 58001,
    "WEB_2_PORT": 58002,
    "CADDY_HTTP_PORT": 58080,
    "CADDY_HTTPS_PORT": 58443,
    "TURN_PORT": 53478,
    "TURN_MIN_PORT": 54000,
    "TURN_MAX_PORT": 54099,
}
SITE = f"https://localhost:{PORTS['CADDY_HTTPS_PORT']}"
CADDY_ROOT_CA = "/data/caddy/pki/authorities/local/root.crt"
UP_TIMEOUT_S = 900  # `up` waits for the first migrate on a fresh database: minutes on a busy host
TONE_HZ = 660.0
TONE_FRAMES = 50  # one second of the tone, decoded from Opus


@dataclass
class Stack:
    env_file: Path
    tls: ssl.SSLContext = field(default_factory=ssl.create_default_context)

    def compose(self, *args: str, check: bool = True, timeout: float = 600) -> str:
        command = [
            "docker-compose", "--project-name", PROJECT, "--file", str(COMPOSE_FILE),
            "--env-file", str(self.env_file), *args,
        ]  # fmt: skip
        run = subprocess.run(  # noqa: S603 - docker-compose with this module's own arguments
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "CLUBHOUSE_ENV_FILE": str(self.env_file)},
            check=False,
        )
        if check and run.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} failed:\n{run.stdout[-3000:]}{run.stderr[-3000:]}"
            )
        return run.stdout + run.stderr

    def http(
        self, path: str, body: dict[str, Any] | None = None, token: str = ""
    ) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["X-Session-Token"] = token
        request = urllib.request.Request(SITE + path, data=data, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.tls) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def mail_keys(self) -> list[str]:
        """E-mail confirmation keys in the mails the web processes wrote (the console backend)."""
        logs = self.compose("logs", "--no-color", "web-1", "web-2")
        return [unquote(key) for key in re.findall(r"/accounts/confirm-email/([^/\s]+)/", logs)]


def _env_file(path: Path) -> Path:
    values = {
        **{name: str(port) for name, port in PORTS.items()},
        "SITE_ADDRESS": "localhost",
        "CADDY_TLS": "internal",
        "CADDY_BIND": "127.0.0.1",
        "DJANGO_ALLOWED_HOSTS": "localhost",
        "DJANGO_CSRF_TRUSTED_ORIGINS": SITE,
        "SITE_URL": SITE,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "REDIS_PASSWORD": secrets.token_hex(16),
        "TURN_SECRET": secrets.token_hex(16),
        "TURN_EXTRA_ARGS": "--listening-ip=127.0.0.1",
        "TURN_URLS": f"turn:127.0.0.1:{PORTS['TURN_PORT']}?transport=udp",
        # the relays bind their peers' ports here, as a firewalled host would have them do
        "RELAY_UDP_PORT_MIN": "54100",
        "RELAY_UDP_PORT_MAX": "54299",
        # production refuses to run without a Stripe key; nothing here contacts Stripe
        "STRIPE_LIVE_MODE": "false",
        "STRIPE_TEST_SECRET_KEY": "sk_test_compose-test-not-a-real-key",
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
    }
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(_env_file(tmp_path_factory.mktemp("compose") / "stack.env"))
    # an earlier run's leftovers
    stack.compose("down", "--volumes", "--remove-orphans", check=False)
    try:
        stack.compose("up", "--detach", "--no-build", timeout=UP_TIMEOUT_S)
        root = _until(lambda: _caddy_root(stack), UP_TIMEOUT_S, "Caddy's internal CA root")
        stack.tls = ssl.create_default_context(cadata=root)
        # Both web processes healthy (the image's HEALTHCHECK), then ready through Caddy.
        _until(lambda: _healthy(stack, "web-1", "web-2"), UP_TIMEOUT_S, "healthy web processes")
        _until(lambda: stack.http("/readyz")[0] == 200 or None, UP_TIMEOUT_S, "/readyz via Caddy")
        yield stack
    finally:
        sys.stdout.write(stack.compose("ps", check=False))  # shown when the test failed
        stack.compose("down", "--volumes", "--remove-orphans", check=False)


def _healthy(stack: Stack, *services: str) -> bool | None:
    ids = stack.compose("ps", "-q", *services).split()
    inspect = ["docker", "inspect", "--format", "{{.State.Health.Status}}", *ids]
    run = subprocess.run(inspect, capture_output=True, text=True, check=False)  # noqa: S603
    states = run.stdout.split()
    return (len(states) == len(services) and set(states) == {"healthy"}) or None


def _caddy_root(stack: Stack) -> str | None:
    out = stack.compose("exec", "-T", "caddy", "cat", CADDY_ROOT_CA, check=False)
    return out if "BEGIN CERTIFICATE" in out else None


def _until(probe: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (result := probe()) is not None:
                return result
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"no {what} within {timeout} s")


def _sign_up(stack: Stack, username: str) -> str:
    """The app's sign-up through Caddy, then the confirmation key from the mail it sent."""
    seen = set(stack.mail_keys())
    status, body = stack.http(
        "/_allauth/app/v1/auth/signup",
        {"email": f"{username}@example.com", "username": username, "password": "pw-Compose-123"},
    )
    assert status == 200, (status, body)
    token = str(body["meta"]["session_token"])
    keys = _until(
        lambda: [k for k in stack.mail_keys() if k not in seen] or None, 30, "confirmation mail"
    )
    status, body = stack.http("/_allauth/app/v1/auth/email/verify", {"key": keys[0]}, token)
    assert status == 200, (status, body)
    return token


def _let_in(stack: Stack, operator: str, *others: str) -> None:
    """docs/operations.md, "From an empty VM", step 6: the operator's own account, signed up and
    confirmed like anyone's, made staff and let in on the server; then they let the others in
    with the service the admin's "Let in from waitlist" action calls."""
    code = (
        "from accounts.models import User; from accounts.services import waitlist_let_in_by_staff;"
        f" me = User.objects.get(email='{operator}@example.com');"
        " me.is_staff = me.is_superuser = True; me.save();"
        " print(waitlist_let_in_by_staff(staff=me, users=[me]))"
    )
    out = stack.compose("exec", "-T", "web-1", "python", "manage.py", "shell", "-c", code)
    assert "1" in _lines(out), out
    code = (
        "from accounts.models import User; from accounts.services import waitlist_let_in_by_staff;"
        f" print(waitlist_let_in_by_staff(staff=User.objects.get(username='{operator}'),"
        f" users=User.objects.filter(username__in={list(others)!r})))"
    )
    out = stack.compose("exec", "-T", "web-1", "python", "manage.py", "shell", "-c", code)
    assert str(len(others)) in _lines(out), out


def _lines(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines()]


def test_members_sign_up_open_a_room_and_hear_each_other_through_caddy_and_the_relay(
    stack: Stack,
) -> None:
    speaker, listener = f"sam{secrets.token_hex(3)}", f"lee{secrets.token_hex(3)}"
    speaker_token = _sign_up(stack, speaker)
    listener_token = _sign_up(stack, listener)
    _let_in(stack, speaker, listener)
    status, room = stack.http(
        "/api/v1/rooms/", {"title": "Compose stack check", "type": "open"}, speaker_token
    )
    assert status == 201, (status, room)
    heard, workers = asyncio.run(
        _speak_and_listen(stack, room["room"]["id"], speaker_token, listener_token)
    )
    assert heard >= TONE_FRAMES, f"the listener decoded {heard} frames of the tone"
    assert workers <= {"relay-1", "relay-2"}, workers  # the stack's relay workers, not embedded


async def _speak_and_listen(
    stack: Stack, room_id: int, speaker_token: str, listener_token: str
) -> tuple[int, set[str]]:
    url = SITE.replace("https://", "wss://") + "/ws/"
    speaker_ws = await RoomClient.connect(url, token=speaker_token, ssl_context=stack.tls)
    listener_ws = await RoomClient.connect(url, token=listener_token, ssl_context=stack.tls)
    speaker, listener = SpeakerClient(TONE_HZ), ListenerClient(TONE_HZ)
    try:
        snapshot = await speaker_ws.join(room_id)
        if snapshot["you"].get("muted"):
            await speaker_ws.request("room.self_unmute", room_id=room_id)
        answer = await speaker_ws.rtc_offer(await speaker.offer())
        await speaker.answer(answer["sdp"])
        await listener_ws.join(room_id)
        heard_answer = await listener_ws.rtc_offer(await listener.offer())
        await listener.answer(heard_answer["sdp"])
        await wait_for(lambda: listener.tone_frames >= TONE_FRAMES, timeout=30)
        return listener.tone_frames, {answer["worker_id"], heard_answer["worker_id"]}
    finally:
        await speaker.close()
        await listener.close()
        await speaker_ws.close()
        await listener_ws.close()
