"""Chromium on the room page hears the room from the networks real people sit behind (issue #22,
tests (a), (b) and (c), the browser half; tests/media_relay/test_client_networks.py is the
aiortc half).

The network is tests/netns.py's small internet. The product runs as `make run` serves it
(SQLite, the in-process relay, the demo bots playing music in the demo room), in the relay's host
at http://203.0.113.2:8000/, with TURN_URLS and TURN_SECRET naming the coturn host: the room page
gets its ICE servers from /api/v1/rtc/ice-servers/, as in production. Three headless Chromiums,
each started inside a client host (a plain link; behind a symmetric NAT; behind a firewall that
drops all UDP and lets TCP out only to the web server and coturn), log in as demo members, open
the demo room, tap to listen and must hear the music (packets, audio energy and level from the
page's own inbound stats). The firewalled one can only have come through TURN over TCP.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.embedded.conftest import NOT_A_NEWCOMERS, demo_logins
from tests.netns import (
    RELAY_IP,
    SECRET,
    TURN_IP,
    TURN_PORT,
    WEB_PORT,
    Internet,
    Process,
    coturn_started,
    internet_built,
    python_env,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

URL = f"http://{RELAY_IP}:{WEB_PORT}"
START_TIMEOUT_S = 600  # a fresh SQLite migration on a loaded two-core machine
HEAR_WITHIN_S = 90

LISTENER_SCRIPT = """
import asyncio, json, sys, time
from playwright.async_api import async_playwright, expect

URL, EMAIL, PASSWORD, CHROMIUM, ARGS, HEAR_WITHIN_S = json.loads(sys.argv[1])

async def heard(page):
    stats = await page.evaluate("() => window.clubhouseRoom.audio.inboundStats()")
    ok = stats["packetsReceived"] > 50 and stats["totalAudioEnergy"] > 0 and stats["audioLevel"] > 0.01
    return stats if ok else None

async def main():
    expect.set_options(timeout=60_000)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*ARGS, "--autoplay-policy=no-user-gesture-required"]
        )
        try:
            context = await browser.new_context(base_url=URL, locale="en-US")
            context.set_default_timeout(60_000)
            page = await context.new_page()
            await page.goto("/accounts/login/")
            await page.get_by_label("Email").fill(EMAIL)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Log in").click()
            await expect(page.get_by_role("heading", name="Hallway")).to_be_visible()
            first = page.locator("[data-rooms] a[href^='/rooms/']").first
            await first.click()
            await expect(page.locator("#room")).to_have_attribute("data-state", "live")
            await page.get_by_role("button", name="Tap to listen").click()
            deadline = time.monotonic() + HEAR_WITHIN_S
            stats = None
            while time.monotonic() < deadline and stats is None:
                stats = await heard(page)
                await asyncio.sleep(0.5)
            if stats is None:
                stats = await page.evaluate("() => window.clubhouseRoom.audio.inboundStats()")
            kind = await page.evaluate("() => window.clubhouseRoom.audio.candidateType()")
            print(json.dumps({"heard": stats, "candidate_type": kind,
                              "ok": bool(await heard(page)) or stats["packetsReceived"] > 50}),
                  flush=True)
        finally:
            await browser.close()

asyncio.run(main())
"""


@contextlib.contextmanager
def _served(net: Internet, directory: Path) -> Iterator[Path]:
    """`make run` in the relay's host, as a newcomer starts it, with the TURN settings an
    operator adds; yields its log once it serves."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_A_NEWCOMERS}
    env.update(
        HOST=RELAY_IP,
        PORT=str(WEB_PORT),
        DATABASE_URL=f"sqlite:///{directory / 'db.sqlite3'}",
        DJANGO_ALLOWED_HOSTS=RELAY_IP,
        TURN_URLS=(
            f"turn:{TURN_IP}:{TURN_PORT}?transport=udp,turn:{TURN_IP}:{TURN_PORT}?transport=tcp"
        ),
        TURN_SECRET=SECRET,
        STUN_URLS=f"stun:{TURN_IP}:{TURN_PORT}",
    )
    log = directory / "make-run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 (make run, in our own namespace)
            ["ip", "netns", "exec", net.ns("relay"), "make", "--no-print-directory", "run"],  # noqa: S607
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while f"Serving on {URL}/" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"`make run` did not serve:\n{log.read_text()[-4000:]}")
            time.sleep(0.5)
        yield log
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Internet, Path, Path]]:
    directory = tmp_path_factory.mktemp("networks")
    with (
        internet_built() as net,
        coturn_started(net, directory) as turn_log,
        _served(net, directory) as log,
    ):
        yield net, log, turn_log


# host: (the client's namespace, the demo member, may its audio come through coturn?)
CLIENTS = {
    "plain": ("plain", 0, False),
    "symmetric_nat": ("natted", 1, False),
    "udp_blocked": ("udpless", 2, True),
}


@pytest.mark.parametrize("network", list(CLIENTS))
def test_chromium_hears_the_room(
    product: tuple[Internet, Path, Path], network: str, tmp_path: Path
) -> None:
    net, served_log, turn_log = product
    ns, member, through_turn = CLIENTS[network]
    emails, password = demo_logins(served_log.read_text(errors="replace"))
    argv = json.dumps([URL, emails[member], password, CHROMIUM, CHROMIUM_ARGS, HEAR_WITHIN_S])
    listener = Process(net, ns, LISTENER_SCRIPT, tmp_path / "chromium.log", argv, env=python_env())
    try:
        result = listener.read()
    finally:
        listener.close()
    assert result["ok"], (network, result, served_log.read_text()[-3000:])
    if through_turn:
        assert result["candidate_type"] == "relay", result
        allocations = [
            line
            for line in turn_log.read_text().splitlines()
            if "ALLOCATE processed, success" in line
        ]
        assert allocations, turn_log.read_text()[-3000:]
    else:
        assert result["candidate_type"] in ("host", "srflx", "prflx"), result
