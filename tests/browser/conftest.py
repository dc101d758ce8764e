"""Browser tests: the full ASGI app (HTTP, WebSockets, the embedded media relay) served by
daphne in a child process against the test database, driven by Playwright through Debian's
Chromium.

One server per session (forked once, after the test database exists); each test gets
`transactional_db`, so what it creates is committed and visible to the server, and is flushed
afterwards. Use `live_url`, the `page`/`new_page` fixtures, `login(context_or_page, user)`
and `screenshots(page, name)`.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import SyncToAsync
from django.conf import settings

HOST = "127.0.0.1"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
# Generous: two cores shared by several test runs.
TIMEOUT_MS = 20_000


def pytest_configure(config: pytest.Config) -> None:
    # Playwright's expect() waits 5 s by default, whatever the context's timeout: too short for a
    # page that answers a click while both cores are busy. Failures only take longer to report.
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Every test here drives Chromium against a server that shares the test database, so it
    # needs PostgreSQL (tests/conftest.py skips or fails it when that is missing).
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.postgres)


# --- the server ---------------------------------------------------------------------------
def _application() -> Any:
    """Runs in the child: the project's ASGI app with static files served (as runserver does).

    The Stripe stand-in keeps its state per process; here it shares a state file with the
    test process (see `standin_shared`) and reloads it whenever the file changed."""
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    from clubhouse.asgi import application
    from payouts.provider.standin import STANDIN

    app = ASGIStaticFilesHandler(application)
    state_file = os.environ["BROWSER_TESTS_STANDIN_STATE"]
    STANDIN.state_file = state_file
    seen = {"mtime": -1}

    async def reload_standin_then_serve(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            try:
                mtime = os.stat(state_file).st_mtime_ns
            except OSError:
                mtime = 0
            if mtime != seen["mtime"]:
                seen["mtime"] = mtime
                with STANDIN._lock:
                    STANDIN._load()
        await app(scope, receive, send)

    return reload_standin_then_serve


def _child_setup() -> None:
    """Runs in the child before the reactor starts: fresh database connections, and the
    embedded media relay started on the reactor's event loop (as `make run` does)."""
    from django.db import connections
    from twisted.internet import reactor

    connections.close_all()
    # A thread pool does not survive a fork: if the test process had used asgiref's one shared
    # sync thread before forking (any async test calling sync code outside a request, e.g. an
    # AsyncClient request in tests/metrics), the child's pool believes an idle thread is there,
    # queues work for it and waits forever, and every socket's first database call hangs.
    SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)

    def start_relay() -> None:
        try:
            from media_relay.worker import relay_embedded_start
        except ImportError:
            return
        relay_embedded_start()

    if os.environ.get("BROWSER_TESTS_RELAY", "1") == "1":
        reactor.callLater(0, start_relay)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def live_server_asgi(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    from daphne.testing import DaphneProcess
    from django.db import connections

    if not settings.IS_POSTGRES:
        pytest.fail("browser tests need PostgreSQL (the server process shares the test DB)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"browser tests need Debian's Chromium at {CHROMIUM}: run `make browser`")
    # Plain http on 127.0.0.1: cookies must not require HTTPS, and nothing redirects to it.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.SECURE_SSL_REDIRECT = False
    settings.SECURE_HSTS_SECONDS = 0
    if HOST not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, HOST]
    # "Online now" (tests/browser/test_online.py): a closed page is offline after 2 s, not 30.
    settings.REALTIME_ONLINE_GRACE_SECONDS = 2.0
    # Web Push on, with a key pair of its own (the settings page's push button needs it).
    from accounts.push import vapid_key_pair

    settings.VAPID_PRIVATE_KEY, settings.VAPID_PUBLIC_KEY = vapid_key_pair()
    # The server runs no schedule: a beat ticking against the shared test database would write
    # between tests (tests/test_embedded_beat.py and tests/embedded/ cover the embedded beat).
    settings.BEAT_EMBEDDED = False
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    state_dir = tmp_path_factory.mktemp("standin")
    os.environ["BROWSER_TESTS_STANDIN_STATE"] = str(state_dir / "standin.json")

    # The child must inherit the test settings and database name: fork, never spawn.
    if multiprocessing.get_start_method(allow_none=True) not in (None, "fork"):
        pytest.fail("browser tests need the fork start method")
    with django_db_blocker.unblock():
        connections.close_all()  # never share a socket with the child
        server = DaphneProcess(HOST, _application, setup=_child_setup)
        server.start()
    if not server.ready.wait(timeout=60):
        server.terminate()
        raise RuntimeError("daphne did not start within 60 s")
    if not server.errors.empty():
        error, trace = server.errors.get()
        raise RuntimeError(f"daphne failed to start: {error}\n{trace}")
    url = f"http://{HOST}:{server.port.value}"
    yield url
    server.terminate()
    server.join(timeout=10)
    # The killed relay cannot say goodbye; take its registration out of Redis so /healthz
    # (and relay placement) in later tests do not see a dead worker.
    from media_relay.placement import relay_registry
    from media_relay.worker import embedded_worker_id

    relay_registry().unregister(embedded_worker_id(server.pid))


@pytest.fixture
def live_url(live_server_asgi: str, transactional_db: None) -> str:
    """The server's base URL, with this test's data committed where the server can see it."""
    return live_server_asgi


@pytest.fixture
def standin_shared(live_server_asgi: str) -> Iterator[Any]:
    """The test process's Stripe stand-in, saved to the file the server reloads from: set up
    creators and cards here and the server sees them (call `STANDIN._load()` to see what the
    server did)."""
    from payouts.provider.standin import STANDIN

    before = STANDIN.state_file
    STANDIN.state_file = os.environ["BROWSER_TESTS_STANDIN_STATE"]
    STANDIN._save()
    yield STANDIN
    STANDIN.state_file = before


@pytest.fixture(autouse=True)
def _allow_orm_beside_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    # Playwright's sync API keeps an event loop in this thread, which makes Django refuse ORM
    # calls ("SynchronousOnlyOperation") even though no coroutine runs while a test body does.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


# --- the browser ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser(live_server_asgi: str) -> Iterator[Any]:
    """Chromium, per test module. Not per session: Playwright's sync API marks an event loop
    as running in this thread for as long as it lives, which would make Django refuse ORM
    calls in every later (non-browser) test of the run; the teardown clears it."""
    import asyncio

    from playwright.sync_api import sync_playwright

    try:
        yield from _chromium(sync_playwright)
    finally:
        asyncio._set_running_loop(None)
        asyncio.set_event_loop(None)


def _chromium(sync_playwright: Any) -> Iterator[Any]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                *CHROMIUM_ARGS,
                # the room tests: a fake microphone, and no permission prompt
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        yield chromium
        chromium.close()


@dataclass
class ConsoleLog:
    """Console errors and uncaught exceptions of one page; tests assert it stays empty."""

    errors: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on(
            "console",
            lambda message: (
                self.errors.append(f"console.{message.type}: {message.text}")
                if message.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def assert_clean(self, allow: tuple[str, ...] = ()) -> None:
        """No console error, except those containing one of `allow` (e.g. the browser's own
        "Failed to load resource: ... 400" line after a form the test sent wrong on purpose)."""
        errors = [e for e in self.errors if not any(part in e for part in allow)]
        assert errors == [], "\n".join(errors)


@pytest.fixture
def new_page(browser: Any, live_url: str) -> Iterator[Callable[..., Any]]:
    """new_page(user=None, viewport=DESKTOP) -> a page in its own browser context (its own
    cookies), logged in as `user` when given. `page.console` collects console errors."""
    contexts: list[Any] = []

    def make(user: Any = None, viewport: dict[str, int] | None = None) -> Any:
        context = browser.new_context(
            base_url=live_url, viewport=viewport or DESKTOP, locale="en-US", timezone_id="UTC"
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS * 2)
        contexts.append(context)
        if user is not None:
            login(context, user, live_url)
        page = context.new_page()
        page.console = ConsoleLog()
        page.console.attach(page)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    """A page with nobody logged in."""
    return new_page()


_UNLABELLED_JS = """() => [...document.querySelectorAll(
  'input:not([type=hidden]), select, textarea, button, a[href]')]
  .filter((el) => el.offsetParent !== null || el.getClientRects().length)
  .filter((el) => {
    const named = (el.labels && el.labels.length) || el.getAttribute('aria-label')
      || el.getAttribute('aria-labelledby') || el.getAttribute('title');
    const text = (el.textContent || '').trim() || el.querySelector('img[alt]:not([alt=""])');
    return !(named || (['BUTTON', 'A'].includes(el.tagName) && text));
  })
  .map((el) => el.outerHTML.slice(0, 120))"""


def assert_every_control_is_named(page: Any) -> None:
    """Every visible input, select, textarea, button and link has an accessible name (a label,
    aria-label or text): what a screen reader announces."""
    unnamed = page.evaluate(_UNLABELLED_JS)
    assert unnamed == [], "controls without a name:\n" + "\n".join(unnamed)


def login(context_or_page: Any, user: Any, base_url: str) -> None:
    """Log `user` in to a browser context the way a finished login would: a real session,
    its cookie in the browser (no password round trip; the login form has its own test)."""
    from django.test import Client

    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    context = getattr(context_or_page, "context", context_or_page)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": base_url,
            }
        ]
    )


@pytest.fixture
def screenshots() -> Callable[[Any, str], list[Path]]:
    """screenshots(page, "hallway") saves the page at desktop and at phone width to
    artifacts/screenshots/ (ignored by git) and restores the viewport."""

    def take(page: Any, name: str) -> list[Path]:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        original = page.viewport_size
        paths = []
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            path = SCREENSHOTS / f"{name}-{label}.png"
            page.screenshot(path=str(path), full_page=True)
            paths.append(path)
        if original:
            page.set_viewport_size(original)
        return paths

    return take
