"""Firefox in the room (issue #22): Debian's firefox-esr, driven over WebDriver BiDi by
puppeteer-core (tests/browser/firefox/drive.mjs; no browser download), joins the room page as a
speaker with Firefox's fake microphone and as a listener, against the same live server as the
Chromium tests. A Chromium page hears the Firefox speaker, and the Firefox page hears a Chromium
speaker playing a tone: the two engines' WebRTC stacks (Firefox's own ICE, DTLS and Opus) meet
through the relay.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from rooms.services.lifecycle import room_create
from tests.browser.conftest import TIMEOUT_MS
from tests.browser.test_room import SLOW_MS, off_loop, open_room
from tests.browser.test_room_audio import (  # noqa: F401 (fixtures)
    energy_grows,
    inbound,
    publish_with_music_mode,
    tone_browser,
    tone_page,
    wait_for,
)
from tests.factories import UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.browser]

FIREFOX = "/usr/bin/firefox-esr"
DRIVER = Path(__file__).resolve().parent / "firefox"


class Firefox:
    """One Firefox on one room page, as `drive.mjs` runs it; `ask("inbound")` etc."""

    def __init__(self, base_url: str, user: Any, room_id: int, role: str, log: Path) -> None:
        client = Client()
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        options = {
            "baseUrl": base_url,
            "cookie": {"name": settings.SESSION_COOKIE_NAME, "value": cookie},
            "roomId": room_id,
            "role": role,
            "executable": FIREFOX,
            "timeoutMs": SLOW_MS,
        }
        node = shutil.which("node")
        assert node is not None
        self.log = log
        self.process = subprocess.Popen(  # noqa: S603 (node with our own script)
            [node, str(DRIVER / "drive.mjs"), json.dumps(options)],
            cwd=DRIVER,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
        )
        self.ready = self._read()
        assert self.ready.get("ready"), (self.ready, log.read_text()[-3000:])

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"the Firefox driver ended: {self.log.read_text()[-3000:]}"
        return dict(json.loads(line))

    def ask(self, cmd: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"cmd": cmd}) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def firefox(tmp_path: Path) -> Iterator[Callable[..., Firefox]]:
    if not Path(FIREFOX).exists() or not (DRIVER / "node_modules" / "puppeteer-core").exists():
        pytest.fail("Firefox tests need firefox-esr and puppeteer-core: run `make browser`")
    started: list[Firefox] = []

    def start(base_url: str, user: Any, room_id: int, role: str) -> Firefox:
        browser = Firefox(base_url, user, room_id, role, tmp_path / f"firefox-{len(started)}.log")
        started.append(browser)
        return browser

    yield start
    for browser in started:
        browser.close()


def test_a_chromium_listener_hears_a_firefox_speaker(
    new_page: Any, firefox: Callable[..., Firefox], live_url: str
) -> None:
    speaker = UserFactory(display_name="Fox Speaker")
    listener = UserFactory(display_name="Chrome Ear")
    room = off_loop(room_create, user=speaker, title="Two engines")

    fox = firefox(live_url, speaker, room.pk, "speak")
    assert "Firefox" in fox.ready["version"] or "firefox" in fox.ready["version"]
    wait_for(lambda: fox.ask("outbound")["packetsSent"] > 0, what="Firefox's packets to leave")

    ear = new_page(listener)
    open_room(ear, room.pk)
    ear.get_by_role("button", name="Tap to listen").click()
    expect(ear.locator("#room")).to_have_attribute("data-audio", "connected", timeout=SLOW_MS)
    stats = wait_for(
        lambda: (s := inbound(ear))["packetsReceived"] > 50 and s["totalAudioEnergy"] > 0 and s,
        what="Firefox's tone at the Chromium listener",
        describe=lambda: {"chromium": inbound(ear), "firefox": fox.ask("state")},
    )
    assert stats["audioLevel"] > 0.01, stats  # Firefox's fake microphone tone, not silence
    assert energy_grows(ear), "audio energy stopped while Firefox speaks"
    assert fox.ready["errors"] == []


def test_a_firefox_listener_hears_a_chromium_speaker(
    tone_page: Any,  # noqa: F811 (the fixture imported above)
    firefox: Callable[..., Firefox],
    live_url: str,
) -> None:
    speaker = UserFactory(display_name="Chrome Speaker")
    listener = UserFactory(display_name="Fox Ear")
    room = off_loop(room_create, user=speaker, title="Other way round")

    pub = tone_page(speaker)
    open_room(pub, room.pk)
    publish_with_music_mode(pub)
    expect(pub.locator("#room")).to_have_attribute("data-audio", "connected", timeout=SLOW_MS)

    fox = firefox(live_url, listener, room.pk, "listen")
    stats = wait_for(
        lambda: (s := fox.ask("inbound"))["packetsReceived"] > 50 and s["bytesReceived"] > 0 and s,
        what="the Chromium speaker's tone at the Firefox listener",
        describe=lambda: {"firefox": fox.ask("state"), "inbound": fox.ask("inbound")},
        timeout=TIMEOUT_MS / 1000 * 2,
    )
    before = stats["packetsReceived"]
    wait_for(
        lambda: fox.ask("inbound")["packetsReceived"] > before + 50,
        what="packets to keep arriving at Firefox",
    )
    final = fox.ask("inbound")
    # Firefox reports decoded audio energy as Chromium does; the tone is well above silence.
    assert final["totalAudioEnergy"] > 0, final
    assert fox.ready["errors"] == []
