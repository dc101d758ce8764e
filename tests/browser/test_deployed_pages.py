"""The pages as a deployment serves them: DEBUG off, static files from `collectstatic` under
content-hashed names (clubhouse/staticfiles.py) served by WhiteNoise from daphne, and every page
under the Content-Security-Policy with `Permissions-Policy: microphone=(self)`.

The server is `daphne clubhouse.asgi:application` in a child process with a production-like
environment (plain http on 127.0.0.1 only: no HTTPS redirect, no Secure cookies), against this
run's test database, with the embedded relay.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.conf import settings
from django.db import connection
from playwright.sync_api import expect

from rooms.services.lifecycle import room_create
from tests.browser.conftest import CHROMIUM, DESKTOP, TIMEOUT_MS, ConsoleLog, _chromium, login
from tests.factories import UserFactory
from tests.testenv import free_port

BASE_DIR = Path(settings.BASE_DIR)
HOST = "127.0.0.1"
SLOW_MS = 30_000
# what ManifestStaticFilesStorage names a file: name.<12 hex digits of its content's md5>.ext
HASHED = re.compile(r"/static/.+\.[0-9a-f]{12}\.\w+$")
T = TypeVar("T")

# Every CSP violation the page sees (the console shows them too, but not always the directive).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def off_loop(service: Callable[..., T], **kwargs: Any) -> T:
    """A room service called outside this thread (Playwright's sync API keeps a loop here)."""
    from django.db import connections

    def call() -> T:
        try:
            return service(**kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result(timeout=30)


@pytest.fixture(scope="module")
def deployed(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"browser tests need Debian's Chromium at {CHROMIUM}: run `make browser`")
    db = connection.settings_dict
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,  # the test process's sessions log people in
        "DJANGO_STATIC_ROOT": str(tmp_path_factory.mktemp("static")),
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DJANGO_ALLOWED_HOSTS": HOST,
        "SITE_URL": f"http://{HOST}:{port}",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_SESSION_COOKIE_SECURE": "0",
        "DJANGO_CSRF_COOKIE_SECURE": "0",
        "DJANGO_SECURE_HSTS_SECONDS": "0",
        "RELAY_EMBEDDED": "1",
        "BEAT_EMBEDDED": "0",
        "STRIPE_STANDIN": "1",
        "PYTHONUNBUFFERED": "1",
    }
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert collected.returncode == 0, collected.stderr
    log = tmp_path_factory.mktemp("daphne") / "daphne.log"
    with log.open("w") as out:
        server = subprocess.Popen(  # noqa: S603 - this project's daphne, fixed arguments
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                HOST,
                "-p",
                str(port),
                "clubhouse.asgi:application",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/livez", timeout=5):  # noqa: S310
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"daphne did not answer within 60 s:\n{log.read_text()}")
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=10)
    from media_relay.placement import relay_registry
    from media_relay.worker import embedded_worker_id

    relay_registry().unregister(embedded_worker_id(server.pid))


@pytest.fixture(scope="module")
def chromium(deployed: str) -> Iterator[Any]:
    import asyncio

    from playwright.sync_api import sync_playwright

    try:
        yield from _chromium(sync_playwright)
    finally:
        asyncio._set_running_loop(None)
        asyncio.set_event_loop(None)


@pytest.fixture
def open_as(chromium: Any, deployed: str, transactional_db: None) -> Iterator[Callable[[Any], Any]]:
    """open_as(user) -> a page logged in as `user`; `page.static_requests` lists every
    /static/ URL it fetched, `page.console` its console errors."""
    contexts: list[Any] = []

    def make(user: Any) -> Any:
        context = chromium.new_context(base_url=deployed, viewport=DESKTOP, locale="en-US")
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        login(context, user, deployed)
        context.add_init_script(RECORD_VIOLATIONS)
        page = context.new_page()
        page.console = ConsoleLog()
        page.console.attach(page)
        page.static_requests = []
        page.on(
            "request",
            lambda request: (
                page.static_requests.append(request.url) if "/static/" in request.url else None
            ),
        )
        return page

    yield make
    for context in contexts:
        context.close()


def assert_served_hashed_and_under_the_policy(page: Any, response: Any) -> None:
    scripts = [u for u in page.static_requests if u.endswith(".js")]
    assert scripts, "the page loaded no script"
    unhashed = [u for u in page.static_requests if not HASHED.search(u.split("?")[0])]
    assert unhashed == [], "fetched under their unhashed names:\n" + "\n".join(unhashed)
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "microphone=(self)" in response.headers["permissions-policy"]
    assert page.evaluate("window.__cspViolations") == []
    page.console.assert_clean()


def test_the_room_page_runs_its_hashed_modules_under_the_csp(open_as: Any) -> None:
    moderator, listener = UserFactory(), UserFactory()
    room = off_loop(room_create, user=moderator, title="Hashed and strict")
    page = open_as(listener)
    response = page.goto(f"/rooms/{room.pk}/")
    # live: the module graph ran (main.js and everything it imports) and the socket connected
    expect(page.locator("#room")).to_have_attribute("data-state", "live", timeout=SLOW_MS)
    expect(page.get_by_text("Hashed and strict").first).to_be_visible()
    modules = {Path(u.split("?")[0]).name.split(".")[0] for u in page.static_requests}
    assert {"main", "socket", "rtc", "state", "ui", "api"} <= modules
    assert_served_hashed_and_under_the_policy(page, response)


def test_the_hallway_runs_under_the_csp(open_as: Any) -> None:
    moderator = UserFactory(display_name="Ada Lovelace")
    off_loop(room_create, user=moderator, title="Difference engines")
    page = open_as(UserFactory())
    response = page.goto("/")
    expect(page.locator(".room-card", has_text="Difference engines")).to_be_visible()
    assert_served_hashed_and_under_the_policy(page, response)


def test_a_hashed_static_file_may_be_cached_for_ever(deployed: str) -> None:
    with urllib.request.urlopen(f"{deployed}/accounts/login/", timeout=10) as page:  # noqa: S310
        html = page.read().decode()
    hashed = re.search(r"/static/app\.[0-9a-f]{12}\.css", html)
    assert hashed, "the login page does not link the hashed stylesheet"
    with urllib.request.urlopen(f"{deployed}{hashed[0]}", timeout=10) as css:  # noqa: S310
        assert "immutable" in css.headers["Cache-Control"]
