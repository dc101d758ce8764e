"""Mail through an SMTP server (EMAIL_URL; docs/operations.md, "Mail").

A fresh process gets the settings a deployment would give it and sends a mail the way the
product does (Django's mail API, as allauth's confirmations and the invitation task do); a small
SMTP server on 127.0.0.1, started here, receives it.
"""

import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent

SEND = """
import json
import django

django.setup()
from django.conf import settings
from django.core.mail import send_mail

print(json.dumps({
    "backend": settings.EMAIL_BACKEND,
    "host": settings.EMAIL_HOST,
    "port": settings.EMAIL_PORT,
    "user": settings.EMAIL_HOST_USER,
    "tls": settings.EMAIL_USE_TLS,
    "ssl": settings.EMAIL_USE_SSL,
}), flush=True)
sent = send_mail("Confirm your address", "Open the link.", None, ["newcomer@example.com"])
print(json.dumps({"sent": sent}))
"""


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: EHLO, MAIL, RCPT, DATA, QUIT."""

    received: list[dict[str, object]]

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        mail: dict[str, object] = {"rcpt": []}
        self._say("220 test SMTP")
        while line := self.rfile.readline().decode().rstrip("\r\n"):
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250 test")
            elif verb == "MAIL":
                mail["from"] = line
                self._say("250 OK")
            elif verb == "RCPT":
                mail["rcpt"].append(line)  # type: ignore[attr-defined]
                self._say("250 OK")
            elif verb == "DATA":
                self._say("354 go on")
                body = []
                while (part := self.rfile.readline().decode()) not in (".\r\n", ""):
                    body.append(part)
                mail["data"] = "".join(body)
                self.server.received.append(mail)  # type: ignore[attr-defined]
                mail = {"rcpt": []}
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 OK")


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, list[dict[str, object]]]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def _send(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_")}
    return subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", SEND],
        cwd=BASE_DIR,
        env={**clean, "DJANGO_SETTINGS_MODULE": "clubhouse.settings", "DJANGO_DEBUG": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_with_email_url_a_mail_reaches_the_smtp_server(
    smtp_server: tuple[int, list[dict[str, object]]],
) -> None:
    port, received = smtp_server
    result = _send({"EMAIL_URL": f"smtp://127.0.0.1:{port}"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == {"sent": 1}
    assert json.loads(lines[0])["backend"] == "django.core.mail.backends.smtp.EmailBackend"
    assert len(received) == 1
    assert [line.upper() for line in received[0]["rcpt"]] == ["RCPT TO:<NEWCOMER@EXAMPLE.COM>"]  # type: ignore[attr-defined]
    assert "Subject: Confirm your address" in str(received[0]["data"])


def test_email_url_carries_the_login_and_tls() -> None:
    # Nothing listens on this port: the settings are read, the send fails with a refusal, not a
    # silent success.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _send({"EMAIL_URL": f"smtp+tls://mailer:s3cret@127.0.0.1:{port}"})
    settings = json.loads(result.stdout.strip().splitlines()[0])
    assert settings["host"] == "127.0.0.1"
    assert settings["port"] == port
    assert settings["user"] == "mailer"
    assert settings["tls"] is True
    assert settings["ssl"] is False
    assert result.returncode != 0
    assert "ConnectionRefusedError" in result.stderr


def test_email_url_without_a_host_is_a_start_up_error() -> None:
    result = _send({"EMAIL_URL": "smtp://"})
    assert result.returncode != 0
    assert "EMAIL_URL names no host" in result.stderr


def test_without_email_url_mail_goes_to_the_console() -> None:
    result = _send({})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[0])
    assert report["backend"] == "django.core.mail.backends.console.EmailBackend"
    assert "Subject: Confirm your address" in result.stdout
