"""A member whose network leaves only TURN hears the room through coturn (issue #22, point 1).

Real Chromium on the room page with `iceTransportPolicy: "relay"` forced on every peer
connection (an init script: only relayed candidates, as behind a firewall that lets nothing
else out) and a real coturn (`turnserver`, use-auth-secret) on 127.0.0.1. The web server of the
browser tests is started once per session, before this test can set TURN_URLS/TURN_SECRET in
it, so the page's GET /api/v1/rtc/ice-servers/ is answered here with what that endpoint answers
(media_relay.ice.member_ice_servers) for this member with the test coturn's URL and secret;
tests/rooms/test_rtc_api.py checks the endpoint itself. coturn's relayed addresses are on the
host's own interface address (the relay refuses loopback candidates when it has another).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aioice.ice
import pytest
from django.test import override_settings
from playwright.sync_api import expect

from media_relay.ice import member_ice_servers
from rooms.services.lifecycle import room_create
from tests.browser.conftest import login
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
from tests.media_relay.test_turn import SECRET, Coturn, coturn_running

RELAY_ONLY = """(() => {
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = function (config) {
    return new Native({ ...(config || {}), iceTransportPolicy: "relay" });
  };
  window.RTCPeerConnection.prototype = Native.prototype;
})();"""


@pytest.fixture
def host_coturn(tmp_path: Path) -> Iterator[Coturn]:
    addresses = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
    if not addresses:
        pytest.fail("this host has no IPv4 interface address for coturn to relay from")
    with coturn_running(tmp_path, relay_ip=addresses[0]) as server:
        yield server


def test_a_listener_allowed_only_turn_hears_the_speaker_through_coturn(
    browser: Any,
    live_url: str,
    tone_page: Any,  # noqa: F811 (the fixture imported above)
    host_coturn: Coturn,
) -> None:
    speaker = UserFactory(display_name="Tone Speaker")
    listener = UserFactory(display_name="Only TURN")
    room = off_loop(room_create, user=speaker, title="Through TURN")
    pub = tone_page(speaker)
    open_room(pub, room.pk)
    publish_with_music_mode(pub)
    expect(pub.locator("#room")).to_have_attribute("data-audio", "connected", timeout=SLOW_MS)

    with override_settings(TURN_URLS=host_coturn.url, TURN_SECRET=SECRET):
        minted = member_ice_servers(listener.pk)
    asked: list[str] = []

    def ice_servers(route: Any) -> None:
        asked.append(route.request.url)
        route.fulfill(status=200, content_type="application/json", body=json.dumps(minted))

    context = browser.new_context(base_url=live_url, locale="en-US")
    try:
        context.add_init_script(RELAY_ONLY)
        context.route("**/api/v1/rtc/ice-servers/", ice_servers)
        login(context, listener, live_url)
        ear = context.new_page()
        open_room(ear, room.pk)
        ear.get_by_role("button", name="Tap to listen").click()
        expect(ear.locator("#room")).to_have_attribute("data-audio", "connected", timeout=SLOW_MS)
        assert asked, "the page never asked for its ICE servers"
        assert ear.evaluate("() => window.clubhouseRoom.audio.candidateType()") == "relay"
        wait_for(
            lambda: (s := inbound(ear))["packetsReceived"] > 50 and s["totalAudioEnergy"] > 0,
            what="the tone through TURN",
        )
        assert energy_grows(ear), "no audio through TURN"
    finally:
        context.close()
