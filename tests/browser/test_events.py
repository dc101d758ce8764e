"""Event options in the browser (issue #17, point 2): a host schedules an event with a co-host,
a capacity and a closed room, and the co-host accepts in their own browser; a host reschedules
and an attendee sees the new time; a full event says so."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Block
from rooms.models import EventCohostInvite, EventRSVP, ScheduledEvent
from tests.browser.conftest import assert_every_control_is_named
from tests.browser.test_room import SLOW_MS
from tests.factories import UserFactory
from tests.rooms.factories import EventFactory


def _local(moment: datetime) -> str:
    """A datetime-local value; the browser contexts run in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def test_a_host_invites_a_cohost_who_accepts_in_their_browser(new_page: Any) -> None:
    hana = UserFactory(username="hana", display_name="Hana Host")
    cole = UserFactory(username="cole", display_name="Cole Host")
    host = new_page(hana)
    host.goto("/events/")
    host.get_by_role("button", name="Schedule an event").click()
    dialog = host.get_by_role("dialog", name="Schedule an event")
    dialog.get_by_label("Title").fill("Compilers at night")
    dialog.get_by_label("Capacity (optional)").fill("2")
    dialog.get_by_label("The event's room").select_option("closed")
    dialog.get_by_label("Co-hosts (optional)").fill("@cole")
    assert_every_control_is_named(host)
    dialog.get_by_role("button", name="Schedule").click()

    expect(host).to_have_url(re.compile(r"/events/\d+/$"))
    card = host.locator("[data-event]")
    expect(card.locator("[data-pending-cohosts]")).to_contain_text("Cole Host")
    expect(card.locator("[data-event-seats]")).to_have_text(" · 0 of 2 going · 2 seats left")
    expect(card.locator("[data-event-when]")).to_contain_text("closed room")
    event = ScheduledEvent.objects.get(title="Compilers at night")
    assert event.capacity == 2
    assert event.room_type == "closed"
    assert list(event.hosts.values_list("username", flat=True)) == ["hana"]

    theirs = new_page(cole)
    theirs.goto("/notifications/")
    row = theirs.locator("[data-notifications-list] li").filter(has_text="asked you to co-host")
    expect(row).to_contain_text("Hana Host asked you to co-host “Compilers at night”.")
    row.get_by_role("button", name="Accept").click()
    expect(row).to_contain_text("You are a co-host.")

    assert EventCohostInvite.objects.get(event=event, user=cole).status == "accepted"
    host.reload()
    expect(card.locator("[data-event-hosts]")).to_contain_text("Cole Host", timeout=SLOW_MS)
    expect(card.locator("[data-pending-cohosts]")).to_have_count(0)
    # the co-host now holds the host's controls on the event's page
    theirs.goto(f"/events/{event.pk}/")
    expect(theirs.get_by_role("button", name="Edit or reschedule")).to_be_visible()
    host.console.assert_clean()
    theirs.console.assert_clean()


def test_blocks_keep_a_cohost_out_in_the_form(new_page: Any) -> None:
    hana = UserFactory(username="hana", display_name="Hana Host")
    otto = UserFactory(username="otto", display_name="Otto Cohost")
    Block.objects.create(blocker=UserFactory(username="blocker"), blocked=hana)
    troll = UserFactory(username="troll")
    Block.objects.create(blocker=troll, blocked=otto)  # with another host, not with hana
    event = EventFactory(title="Quiet night", created_by=hana, hosts=[hana, otto])
    host = new_page(hana)

    # someone who blocked you is nobody you can find, so nobody you can ask
    host.goto("/events/?new=1")
    dialog = host.get_by_role("dialog", name="Schedule an event")
    dialog.get_by_label("Title").fill("Loud night")
    dialog.get_by_label("Co-hosts (optional)").fill("@blocker")
    dialog.get_by_role("button", name="Schedule").click()
    expect(dialog.locator("[data-field-error=host_ids]")).to_have_text(
        "No member is called @blocker."
    )
    assert not ScheduledEvent.objects.filter(title="Loud night").exists()

    # someone blocked with one of the hosts: the API's cohost_blocked, shown in the form
    host.goto(f"/events/{event.pk}/")
    host.get_by_role("button", name="Edit or reschedule").click()
    dialog = host.get_by_role("dialog", name="Edit or reschedule")
    cohosts = dialog.get_by_label("Co-hosts (optional)")
    expect(cohosts).to_have_value("@otto")  # the other hosts: hana stays one by editing
    cohosts.fill("@otto, @troll")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator("[data-form-error]")).to_contain_text("one of you blocked the other")
    assert not EventCohostInvite.objects.filter(user=troll).exists()
    host.console.assert_clean(allow=("404", "403"))


def test_an_attendee_sees_the_new_time_of_a_rescheduled_event(new_page: Any) -> None:
    hana = UserFactory(username="hana", display_name="Hana Host")
    ada = UserFactory(username="ada", display_name="Ada Attendee")
    first = (timezone.now() + timedelta(days=2)).replace(hour=18, minute=0, second=0, microsecond=0)
    event = EventFactory(title="Jazz hour", created_by=hana, starts_at=first)

    attendee = new_page(ada)
    attendee.goto(f"/events/{event.pk}/")
    attendee.get_by_role("button", name="RSVP — I'll be there").click()
    expect(attendee.get_by_role("button", name="Going ✓")).to_be_visible()
    assert EventRSVP.objects.filter(event=event, user=ada).exists()

    host = new_page(hana)
    host.goto(f"/events/{event.pk}/")
    host.get_by_role("button", name="Edit or reschedule").click()
    dialog = host.get_by_role("dialog", name="Edit or reschedule")
    later = first + timedelta(days=3, hours=2)
    dialog.get_by_label("Starts (UTC)").fill(_local(later))
    assert_every_control_is_named(host)
    dialog.get_by_role("button", name="Save").click()
    expect(host.get_by_text("Rescheduled: everyone going is told the new time.")).to_be_visible()
    event.refresh_from_db()
    assert event.starts_at == later

    # the attendee's badge learns of it without a reload; the notification says the new time
    expect(attendee.locator("[data-unread]")).to_have_text("1", timeout=SLOW_MS)
    attendee.goto("/notifications/")
    day = f"{later:%A, %B} {later.day}, {later.year}"
    row = attendee.locator("[data-notifications-list] li").first
    expect(row).to_contain_text(f"Hana Host moved “Jazz hour” to {day}")
    row.get_by_role("link").first.click()
    expect(attendee).to_have_url(re.compile(rf"/events/{event.pk}/$"))
    when = attendee.locator("[data-event-time]")
    expect(when).to_contain_text(day)
    assert datetime.fromisoformat(when.get_attribute("datetime") or "") == later
    host.console.assert_clean()
    attendee.console.assert_clean()


def test_a_full_event_says_so_instead_of_offering_an_rsvp(new_page: Any) -> None:
    event = EventFactory(title="Tiny room", capacity=1)
    EventRSVP.objects.create(event=event, user=UserFactory())
    late = new_page(UserFactory())
    late.goto(f"/events/{event.pk}/")
    expect(late.locator("[data-event-seats]")).to_have_text(" · 1 of 1 going · full")
    expect(late.get_by_role("button", name="Full — no seats left")).to_be_disabled()
    late.console.assert_clean()


def test_a_club_leader_schedules_a_members_only_event(new_page: Any) -> None:
    from tests.clubs.factories import ClubFactory

    club = ClubFactory(name="Night Owls")
    leader = new_page(club.created_by)
    leader.goto("/events/?new=1")
    dialog = leader.get_by_role("dialog", name="Schedule an event")
    members_only = dialog.get_by_label("Members only", exact=False)
    expect(members_only).to_be_hidden()  # a club event's option
    dialog.get_by_label("Title").fill("Owls only")
    dialog.get_by_label("Club (optional)").select_option(label="Night Owls")
    members_only.check()
    dialog.get_by_role("button", name="Schedule").click()

    expect(leader.locator("[data-event-when]")).to_contain_text("members only")
    event = ScheduledEvent.objects.get(title="Owls only")
    assert (event.club_id, event.members_only) == (club.pk, True)
    leader.console.assert_clean()
