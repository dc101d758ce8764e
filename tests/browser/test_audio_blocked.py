"""When audio cannot connect, the room page says so (issue #22, point 5).

A member with no network path to the relay (an office firewall that drops UDP, and no TURN
server configured): here Chromium's own ICE agent is told to use relayed candidates only
(`iceTransportPolicy: "relay"`, set by an init script on every RTCPeerConnection the page makes)
while the server hands out no TURN server, so real ICE in real Chromium never connects, as
behind that firewall. (Chromium's `--force-webrtc-ip-handling-policy=disable_non_proxied_udp`
did not stop it connecting over loopback here.) The page must say plainly that audio cannot
connect, with what to try, and keep trying with new connections, instead of "Connecting audio…"
forever.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from rooms.services.lifecycle import room_create
from tests.browser.conftest import TIMEOUT_MS, login
from tests.browser.test_room import off_loop, open_room
from tests.factories import UserFactory

# The page gives a connection 10 s (NO_AUDIO_AFTER_MS) after the relay's answer; gathering and
# a loaded two-core machine add to it.
STALL_MS = 40_000


NO_PATH_TO_THE_RELAY = """(() => {
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = function (config) {
    return new Native({ ...(config || {}), iceTransportPolicy: "relay" });
  };
  window.RTCPeerConnection.prototype = Native.prototype;
})();"""


def test_a_listener_whose_network_blocks_udp_is_told_and_the_page_keeps_trying(
    browser: Any, live_url: str
) -> None:
    host = UserFactory(display_name="Host")
    listener = UserFactory(display_name="Behind a firewall")
    room = off_loop(room_create, user=host, title="Unreachable audio")
    context = browser.new_context(base_url=live_url, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(NO_PATH_TO_THE_RELAY)
    try:
        login(context, listener, live_url)
        page = context.new_page()
        open_room(page, room.pk)
        page.get_by_role("button", name="Tap to listen").click()
        expect(page.locator("#room")).to_have_attribute("data-audio", "stalled", timeout=STALL_MS)
        message = page.locator("#audio-state")
        expect(message).to_contain_text("can't connect your audio")
        expect(message).to_contain_text("try another Wi-Fi or mobile data")
        expect(message).to_contain_text("Still trying")
        # It keeps trying: a new connection replaces the stuck one, and it still says why.
        page.evaluate("() => { window.__stuckPc = window.clubhouseRoom.audio.pc; }")
        page.wait_for_function(
            "() => window.clubhouseRoom.audio.pc && window.clubhouseRoom.audio.pc !== window.__stuckPc",
            timeout=STALL_MS,
        )
        expect(page.locator("#room")).to_have_attribute("data-audio", "stalled")
        assert page.evaluate("() => window.clubhouseRoom.audio.pc.connectionState") != "connected"
    finally:
        context.close()
