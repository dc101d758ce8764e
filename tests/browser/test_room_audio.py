"""Live audio in real Chromium through the room page, the room socket and the embedded relay.

- Issue #4: a page whose fake microphone plays a tone file publishes; another page's
  `inbound-rtp` stats show packets and non-zero audio energy while the tone plays.
- Issue #5: two browsers; a listener is brought on stage, the moderator's page shows their
  speaking ring and receives their audio; mute, move to the audience and end are seen on both.

Chromium hides host IPs behind mDNS names by default; that does not stop ICE here (the relay
learns the browser's address as a peer-reflexive candidate from its checks, and aioice offers
the host's interface address, never 127.0.0.1), so WebRtcHideLocalIpsWithMdns stays enabled.
"""

from __future__ import annotations

import math
import re
import struct
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from rooms.models import Room
from rooms.services.lifecycle import room_create
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, login
from tests.browser.test_room import SLOW_MS, card, off_loop, open_room, skip_mic, tool
from tests.factories import UserFactory

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TONE_HZ = 440
TONE_AMPLITUDE = 0.4  # of full scale: clearly voice-loud at the relay's audio-level threshold


def write_tone(path: Path, seconds: float = 5.0, rate: int = 48_000) -> Path:
    """A mono 16-bit sine; Chromium's fake capture device loops it."""
    frames = bytearray()
    for i in range(int(seconds * rate)):
        sample = TONE_AMPLITUDE * math.sin(2 * math.pi * TONE_HZ * i / rate)
        frames += struct.pack("<h", int(sample * 32767))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return path


@pytest.fixture(scope="module")
def tone_browser(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A second Chromium whose fake microphone plays our tone (the flag is per process)."""
    tone = write_tone(tmp_path_factory.mktemp("audio") / "tone-440.wav")
    chromium = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={tone}",
        ],
    )
    yield chromium
    chromium.close()


@pytest.fixture
def tone_page(tone_browser: Any, live_url: str) -> Iterator[Callable[[Any], Any]]:
    contexts: list[Any] = []

    def make(user: Any) -> Any:
        context = tone_browser.new_context(base_url=live_url, viewport=DESKTOP, locale="en-US")
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        login(context, user, live_url)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def inbound(page: Any) -> dict[str, float]:
    return page.evaluate("() => window.clubhouseRoom.audio.inboundStats()")


def wait_for(
    predicate: Callable[[], Any],
    *,
    timeout: float = 30.0,
    what: str,
    describe: Callable[[], Any] | None = None,
) -> Any:
    """Poll until `predicate()` is truthy (generous: a loaded two-core machine)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.25)
    if describe is not None:
        last = describe()
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def audio_debug(listening: Any, speaking: Any) -> dict[str, Any]:
    """What a failed audio wait reports: both ends' connection and counters."""
    script = """() => {
        const a = window.clubhouseRoom.audio;
        return {
            state: document.getElementById("room").dataset.audio,
            worker: a.workerId,
            pc: a.pc && a.pc.connectionState,
            transceivers: a.pc && a.pc.getTransceivers().map(t => `${t.direction}:${t.currentDirection}`),
            you: window.clubhouseRoom.state.you,
        };
    }"""
    return {
        "listening": {**listening.evaluate(script), "inbound": inbound(listening)},
        "speaking": {
            **speaking.evaluate(script),
            "outbound": speaking.evaluate("() => window.clubhouseRoom.audio.outboundStats()"),
        },
    }


def energy_grows(page: Any, *, seconds: float = 1.5) -> bool:
    before = inbound(page)
    time.sleep(seconds)
    after = inbound(page)
    return (
        after["packetsReceived"] > before["packetsReceived"]
        and after["totalAudioEnergy"] > before["totalAudioEnergy"]
    )


def publish_with_music_mode(page: Any) -> None:
    """Go through the mic explainer with voice processing off, as the tone test needs."""
    expect(page.locator("#mic-dialog")).to_be_visible()
    page.get_by_label("Music mode", exact=False).check()
    page.locator("#mic-continue").click()
    expect(page.locator("#mic-dialog")).to_be_hidden()
    wait_for(
        lambda: page.evaluate("() => window.clubhouseRoom.audio.micTrack !== null"),
        what="getUserMedia to hand over the microphone",
    )


def test_chromium_publishes_a_tone_that_another_chromium_page_hears(
    new_page: Any, tone_page: Any
) -> None:
    speaker = UserFactory(display_name="Tone Speaker")
    listener = UserFactory(display_name="Ear")
    room = off_loop(room_create, user=speaker, title="Tuning fork")

    pub = tone_page(speaker)
    open_room(pub, room.pk)
    publish_with_music_mode(pub)
    # getUserMedia ran with echo cancellation, noise suppression and auto gain off.
    settings = pub.evaluate("() => window.clubhouseRoom.audio.micTrack.getSettings()")
    assert settings.get("echoCancellation") is False
    assert settings.get("noiseSuppression") is False
    assert settings.get("autoGainControl") is False
    expect(pub.locator("#room")).to_have_attribute("data-audio", "connected", timeout=SLOW_MS)
    wait_for(
        lambda: pub.evaluate("() => window.clubhouseRoom.audio.outboundStats()")["packetsSent"] > 0,
        what="the speaker's packets to leave",
    )

    ear = new_page(listener)
    open_room(ear, room.pk)
    ear.get_by_role("button", name="Tap to listen").click()
    expect(ear.locator("#room")).to_have_attribute("data-audio", "connected", timeout=SLOW_MS)
    stats = wait_for(
        lambda: (s := inbound(ear))["packetsReceived"] > 50 and s["totalAudioEnergy"] > 0 and s,
        what="the tone at the listener",
    )
    assert stats["audioLevel"] > 0.05, stats  # the tone, not comfort noise
    assert energy_grows(ear), "audio energy stopped while the tone plays"

    # A network blip on the listener's side: new socket, room.join again, a fresh offer, and the
    # tone is back on the new connection.
    first_pc = ear.evaluate("() => { window.__firstPc = window.clubhouseRoom.audio.pc; return 1; }")
    assert first_pc == 1
    ear.evaluate("() => window.clubhouseRoom.socket.simulateDrop()")
    expect(ear.locator("#room-announcer")).to_contain_text("Reconnected", timeout=SLOW_MS)
    wait_for(
        lambda: ear.evaluate(
            "() => window.clubhouseRoom.audio.pc !== window.__firstPc"
            " && window.clubhouseRoom.audio.pc.connectionState === 'connected'"
        ),
        what="a new audio connection after the reconnect",
    )
    wait_for(
        lambda: (s := inbound(ear))["packetsReceived"] > 50 and s["totalAudioEnergy"] > 0 and s,
        what="the tone after the reconnect",
        describe=lambda: audio_debug(ear, pub),
    )
    assert energy_grows(ear), "no audio after the reconnect"


def test_two_browsers_stage_speaking_ring_audio_mute_move_back_and_end(
    new_page: Any, tone_page: Any
) -> None:
    moderator = UserFactory(display_name="Mod Erator")
    listener = UserFactory(display_name="Tone Listener")

    # The moderator starts the room from the hallway, like anyone would.
    mod = new_page(moderator)
    mod.goto("/")
    mod.get_by_role("link", name="Start a room").click()
    dialog = mod.get_by_role("dialog", name="Start a room")
    dialog.get_by_label("What do you want to talk about?").fill("Evening jam")
    dialog.get_by_role("button", name="Let's go").click()
    expect(mod).to_have_url(re.compile(r"/rooms/\d+/$"), timeout=SLOW_MS)
    expect(mod.locator("#room")).to_have_attribute("data-state", "live", timeout=SLOW_MS)
    room = Room.objects.get(title="Evening jam", created_by=moderator)
    skip_mic(mod)
    mod.get_by_role("button", name="Tap to listen").click()
    expect(mod.locator("#room")).to_have_attribute("data-audio", "connected", timeout=SLOW_MS)

    lis = tone_page(listener)
    open_room(lis, room.pk)
    lis.get_by_role("button", name="Tap to listen").click()
    lis.get_by_role("button", name="Raise hand").click()
    hand = mod.locator(f"#hands li[data-user-id='{listener.pk}']")
    hand.get_by_role("button", name="Invite to speak").click()
    expect(lis.locator("#invite-dialog")).to_be_visible()
    lis.get_by_role("button", name="Join the stage").click()
    publish_with_music_mode(lis)
    expect(lis.locator("#mic-btn")).to_have_text("Unmute")
    lis.locator("#mic-btn").click()
    expect(lis.locator("#mic-btn")).to_have_attribute("aria-pressed", "true")

    # The moderator sees the ring and hears the new speaker.
    ring = card(mod, "stage", listener)
    expect(ring).not_to_have_class("is-muted")
    wait_for(
        lambda: "speaking" in (ring.get_attribute("class") or "").split(),
        what="the speaking ring",
        describe=lambda: audio_debug(mod, lis),
    )
    expect(ring).to_have_attribute("aria-label", word_re("speaking"))
    stats = wait_for(
        lambda: (s := inbound(mod))["packetsReceived"] > 50 and s["totalAudioEnergy"] > 0 and s,
        what="the new speaker's audio at the moderator",
        describe=lambda: audio_debug(mod, lis),
    )
    assert stats["audioLevel"] > 0.05, stats
    shoot(mod, "room")

    # Mute: the listener's page says so, the ring goes, and the relay stops forwarding.
    tool(mod, "stage", listener, "room.speaker_mute")
    expect(lis.locator("#mic-btn")).to_have_attribute("aria-pressed", "false")
    expect(lis.locator("#room-announcer")).to_contain_text("A moderator muted you")
    expect(card(lis, "stage", listener)).to_contain_text("Muted")
    expect(ring).to_contain_text("Muted")
    expect(ring).not_to_have_class(class_re("speaking"), timeout=SLOW_MS)
    assert lis.evaluate("() => window.clubhouseRoom.audio.micTrack.enabled") is False
    wait_for(lambda: not energy_grows(mod), what="the muted speaker's audio to stop")

    # Back to the audience: the mic is released, the stage no longer shows them.
    tool(mod, "stage", listener, "room.speaker_move_to_audience")
    expect(card(mod, "stage", listener)).to_have_count(0)
    expect(card(mod, "audience", listener)).to_be_visible()
    expect(lis.locator("#hand-btn")).to_be_visible()
    expect(lis.locator("#mic-btn")).to_be_hidden()
    wait_for(
        lambda: lis.evaluate("() => window.clubhouseRoom.audio.micTrack === null"),
        what="the microphone to be released",
    )

    mod.locator("#end-btn").click()
    mod.locator("#confirm-ok").click()
    for page in (mod, lis):
        expect(page.locator("#room")).to_have_attribute("data-state", "ended")
        expect(page.locator("#room-gone")).to_contain_text("This room has ended")
        expect(page.locator("#room")).to_have_attribute("data-audio", "closed")
    mod.console.assert_clean()


def class_re(name: str) -> re.Pattern[str]:
    return re.compile(rf"(^|\s){re.escape(name)}(\s|$)")


def word_re(word: str) -> re.Pattern[str]:
    return re.compile(rf"\b{re.escape(word)}\b")


def shoot(page: Any, name: str) -> None:
    """The room page at desktop and phone width, for people to look at (artifacts/)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    if original:
        page.set_viewport_size(original)
