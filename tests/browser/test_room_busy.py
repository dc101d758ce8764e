"""The room page honours `room_busy` (issue #18): it says "Joining…", joins again after the
server's `retry_after`, and gives up with a clear message after a bounded number of tries.

The server's own `room_busy` answer is tested against a saturated process in
tests/rooms/test_join_storm.py. Here the busy answers come from Playwright's WebSocket route,
which stands between the page and the real server: it answers the page's first `room.join`
frames itself and passes everything else (and the join that finally gets through) to daphne.
"""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import expect

from rooms.models import RoomParticipant
from rooms.services.lifecycle import room_create
from tests.browser.test_room import SLOW_MS, off_loop
from tests.factories import UserFactory

JOIN_BUSY_ATTEMPTS = 8  # static/js/room/socket.js


def busy_for(page: Any, answers: int, retry_after: int) -> list[str]:
    """Answer the page's first `answers` room.join frames with `room_busy`; returns the ids of
    the joins answered so (and the page sees the server for everything else)."""
    refused: list[str] = []

    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            frame = json.loads(message) if isinstance(message, str) else {}
            if frame.get("type") == "room.join" and len(refused) < answers:
                refused.append(frame["id"])
                busy = {
                    "type": "error",
                    "id": frame["id"],
                    "code": "room_busy",
                    "message": "The room is busy; joining again in a moment.",
                    "fields": {},
                    "retry_after": retry_after,
                }
                ws.send(json.dumps(busy))
                return
            server.send(message)

        ws.on_message(from_page)

    page.route_web_socket(re.compile(r"/ws/"), route)
    return refused


def test_a_busy_answer_shows_joining_and_the_retry_gets_in(new_page: Any) -> None:
    moderator = UserFactory()
    listener = UserFactory()
    room = off_loop(room_create, user=moderator, title="Everyone at once")
    page = new_page(listener)
    refused = busy_for(page, answers=2, retry_after=1500)
    page.goto(f"/rooms/{room.pk}/")
    expect(page.locator("#room")).to_have_attribute("data-state", "joining", timeout=SLOW_MS)
    expect(page.locator("#room-conn")).to_contain_text("Joining")
    expect(page.locator("#room")).to_have_attribute("data-state", "live", timeout=SLOW_MS)
    assert len(refused) == 2
    assert RoomParticipant.objects.filter(room=room, user=listener).exists()
    expect(page.locator("#room-gone")).to_be_hidden()


def test_a_room_busy_for_every_try_says_so_instead_of_retrying_forever(new_page: Any) -> None:
    moderator = UserFactory()
    listener = UserFactory()
    room = off_loop(room_create, user=moderator, title="Far too popular")
    page = new_page(listener)
    refused = busy_for(page, answers=1000, retry_after=50)
    page.goto(f"/rooms/{room.pk}/")
    expect(page.locator("#room-gone")).to_contain_text("This room is very busy", timeout=SLOW_MS)
    assert len(refused) == JOIN_BUSY_ATTEMPTS + 1
    assert not RoomParticipant.objects.filter(room=room, user=listener).exists()
