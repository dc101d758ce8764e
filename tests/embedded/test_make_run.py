"""`make run`, as a newcomer meets it: the embedded product answers, any demo login lands on a
hallway whose first card is the live demo room, a browser listener hears music within a minute
of the URL being printed, and the stage is alive (bots take turns, an audience, a raised hand);
with no other process, beat's schedule in the web process sends a due event reminder.

The first test is the newcomer's minute, so it runs first: the clock starts when `make run`
prints its URL.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from rooms.client import RoomClient
from rooms.tasks import REMINDERS_TASK
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.embedded.conftest import HEALTH_TOKEN, MadeRun, app_login, demo_logins, http

pytestmark = [pytest.mark.slow, pytest.mark.browser]

HEAR_WITHIN_S = 60.0
MUSIC_LEVEL = 0.01  # audioLevel of music; comfort noise and the bots' rests read below it
REMINDED_WITHIN_S = 60.0  # generous: two cores shared by several test runs


def _demo_room(made_run: MadeRun, token: str) -> dict[str, Any]:
    status, hallway = http(f"{made_run.url}/api/v1/hallway/", token=token)
    assert status == 200, hallway
    assert hallway["results"], "the hallway is empty"
    return dict(hallway["results"][0])


async def _inbound(page: Any) -> dict[str, float]:
    return dict(await page.evaluate("() => window.clubhouseRoom.audio.inboundStats()"))


async def _until(predicate: Any, *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


async def test_a_newcomer_logs_in_opens_the_first_room_and_hears_music_within_a_minute(
    made_run: MadeRun,
) -> None:
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=30_000)  # a loaded two-core machine
    emails, password = demo_logins(made_run.output())
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            context = await browser.new_context(base_url=made_run.url, locale="en-US")
            context.set_default_timeout(30_000)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto("/accounts/login/")
            await page.get_by_label("Email").fill(emails[0])
            await page.get_by_label("Password").fill(password)
            await page.get_by_role("button", name="Log in").click()
            await expect(page.get_by_role("heading", name="Hallway")).to_be_visible()
            first = page.locator("[data-rooms] a[href^='/rooms/']").first
            await expect(first).to_be_visible()
            await first.click()
            await expect(page.locator("#room")).to_have_attribute("data-state", "live")
            await page.get_by_role("button", name="Tap to listen").click()
            stats = await _until(
                lambda: _heard(page),
                timeout=max(5.0, HEAR_WITHIN_S - (time.monotonic() - made_run.url_printed_at)),
                what="music at the listener",
            )
            heard_after = time.monotonic() - made_run.url_printed_at
            assert heard_after < HEAR_WITHIN_S, f"music heard {heard_after:.0f} s after the URL"
            assert stats["audioLevel"] > MUSIC_LEVEL, stats
            before = await _inbound(page)
            await asyncio.sleep(2)
            after = await _inbound(page)
            assert after["packetsReceived"] > before["packetsReceived"] + 50, (before, after)
            assert after["totalAudioEnergy"] > before["totalAudioEnergy"], (before, after)
            assert errors == []
        finally:
            await browser.close()


async def _heard(page: Any) -> dict[str, float] | None:
    """Music is heard when packets flow and the level is above comfort noise. The bots rest for
    a second between turns (media_relay/demo_audio.py Turns.rest_s), so a sample that falls in a
    rest reads level 0: keep sampling until one falls in a turn."""
    stats = await _inbound(page)
    heard = (
        stats["packetsReceived"] > 50
        and stats["totalAudioEnergy"] > 0
        and stats["audioLevel"] > MUSIC_LEVEL
    )
    return stats if heard else None


def test_the_embedded_stack_answers_healthz(made_run: MadeRun) -> None:
    status, public = http(f"{made_run.url}/healthz")
    assert status == 200, public
    assert set(public["components"].values()) == {"ok"}, public
    assert b"embedded" not in json.dumps(public).encode()
    status, health = http(f"{made_run.url}/healthz/details", bearer=HEALTH_TOKEN)
    assert status == 200, health
    assert health["database"]["vendor"] == "sqlite"
    assert health["channel_layer"]["backend"] == "channels.layers.InMemoryChannelLayer"
    assert [w["worker_id"] for w in health["relay"]["workers"]] == ["embedded"]
    assert health["relay"]["workers"][0]["send_loop"] == "c"


def test_beats_schedule_runs_in_the_web_process(made_run: MadeRun) -> None:
    """Reminders, premium expiry, stipends and reconciliation are due under `make run` too: the
    web process ticks beat's schedule itself (clubhouse/beat.py)."""
    status, health = http(f"{made_run.url}/healthz/details", bearer=HEALTH_TOKEN)
    assert status == 200, health
    beat = health["beat"]
    assert (beat["mode"], beat["state"]) == ("embedded", "running"), beat
    first_tick_ago, first_read = beat["last_tick_s_ago"], time.monotonic()
    assert first_tick_ago is not None, beat
    # It keeps ticking (django-celery-beat's scheduler wakes at least every 5 s): a newer tick
    # than the first one seen comes within a generous 30 s.
    deadline = first_read + 30
    while time.monotonic() < deadline:
        time.sleep(1)
        _, later = http(f"{made_run.url}/healthz/details", bearer=HEALTH_TOKEN)
        assert later["beat"]["state"] == "running", later["beat"]
        if later["beat"]["last_tick_s_ago"] < first_tick_ago + (time.monotonic() - first_read) - 1:
            break
    else:
        raise AssertionError(f"beat stopped ticking: {beat} then {later['beat']}")


def test_every_demo_login_sees_the_demo_room_first_and_may_join_it(made_run: MadeRun) -> None:
    emails, password = demo_logins(made_run.output())
    rooms = {}
    for email in emails:
        token = app_login(made_run.url, email, password)
        room = _demo_room(made_run, token)
        rooms[email] = room["id"]

        async def join(token: str = token, room_id: int = room["id"]) -> dict[str, Any]:
            client = await RoomClient.connect(made_run.ws_url, token=token)
            try:
                return await client.join(room_id)
            finally:
                await client.close()

        snapshot = asyncio.run(join())
        assert snapshot["room"]["status"] == "live", (email, snapshot["room"])
    assert len(set(rooms.values())) == 1, f"not the same first room for everyone: {rooms}"


async def test_the_demo_stage_is_alive(made_run: MadeRun) -> None:
    emails, password = demo_logins(made_run.output())
    token = app_login(made_run.url, emails[-1], password)
    room = _demo_room(made_run, token)
    client = await RoomClient.connect(made_run.ws_url, token=token)
    try:
        snapshot = await client.join(room["id"])
        speakers = [p for p in snapshot["stage"] if p["role"] in ("speaker", "moderator")]
        assert len(speakers) >= 2, snapshot["stage"]
        assert snapshot["audience_count"] >= 2, snapshot["audience_count"]
        assert snapshot["hands_count"] >= 1, "nobody has a hand raised"
        on_stage = {p["user"]["id"] for p in speakers}
        # The bots take turns: within 30 s at least two different people start speaking.
        talkers: set[int] = set()
        deadline = time.monotonic() + 30
        seen = 0
        while len(talkers) < 2 and time.monotonic() < deadline:
            pushes = client.pushes_of("room.speaking")
            for push in pushes[seen:]:
                data = push.get("data", push)
                if data.get("speaking"):
                    talkers.add(data["user_id"])
            seen = len(pushes)
            await asyncio.sleep(0.2)
        assert len(talkers) >= 2, f"speakers heard talking: {talkers}"
        assert talkers <= on_stage
    finally:
        await client.close()


# What staff do for the reminder test below, in a `manage.py shell` on `make run`'s database: an
# event of a new host starting in 5 minutes, a new follower of the host to remind, and reminders
# every second (the migration's row runs every minute). One transaction, so the web process's
# beat sees all of it at once; before it commits, nobody has been reminded (the seed itself
# sends nothing). Prints the follower's id.
REMINDER_SEED = f"""
from datetime import timedelta
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from accounts.models import Notification
from tests.rooms.factories import EventFactory, MemberFactory, follow

with transaction.atomic():
    event = EventFactory(starts_at=timezone.now() + timedelta(minutes=5))
    fan = MemberFactory()
    follow(fan, event.created_by)
    assert not Notification.objects.filter(recipient=fan, kind="event_reminder").exists()
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    PeriodicTask.objects.create(
        name="reminders now", task="{REMINDERS_TASK}", interval=every_second
    )
print("fan", fan.pk)
"""


def _reminders_for(database: Path, fan_id: int) -> int:
    with sqlite3.connect(database, timeout=20) as db:
        (count,) = db.execute(
            "SELECT COUNT(*) FROM accounts_notification"
            " WHERE kind = 'event_reminder' AND recipient_id = ?",
            (fan_id,),
        ).fetchone()
    return int(count)


def test_make_run_sends_a_due_reminder_with_no_other_process(made_run: MadeRun) -> None:
    """With no broker, no worker and no `celery beat` (only what `make run` starts), beat's
    schedule in the web process sends a due event reminder (clubhouse/beat.py). How the web
    process stops (SIGTERM: exit 0, the beat stopped) is checked when `made_run` ends."""
    status, health = http(f"{made_run.url}/healthz/details", bearer=HEALTH_TOKEN)
    assert status == 200, health
    assert (health["beat"]["mode"], health["beat"]["state"]) == ("embedded", "running")
    seeded = subprocess.run(  # noqa: S603  (this project's manage.py, fixed arguments)
        [sys.executable, "manage.py", "shell", "-c", REMINDER_SEED],
        env=made_run.env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    match = re.search(r"^fan (\d+)$", seeded.stdout, re.MULTILINE)
    assert match, seeded.stdout + seeded.stderr
    fan_id = int(match[1])

    deadline = time.monotonic() + REMINDED_WITHIN_S
    while _reminders_for(made_run.database, fan_id) == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _reminders_for(made_run.database, fan_id) == 1, made_run.output()[-4000:]
