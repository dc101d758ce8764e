"""Event options (issue #17, point 2): capacity, the event room's type, rescheduling (RSVPs are
told and the reminder follows the new time) and members-only club events, through the API and
the services, on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import close_old_connections
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Notification
from clubhouse.errors import ApplicationError
from rooms import schedule_services
from rooms.models import EventRSVP, ScheduledEvent
from tests.clubs.factories import ClubFactory, MembershipFactory
from tests.rooms.factories import EventFactory, MemberFactory, follow

pytestmark = pytest.mark.django_db


def _as(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _in(**delta: float) -> datetime:
    return timezone.now() + timedelta(**delta)


def _create(host: Any, **body: Any) -> Any:
    return _as(host).post(
        "/api/v1/events/",
        {"title": "Night owls", "starts_at": _in(days=1).isoformat(), **body},
        format="json",
    )


def _rsvp(user: Any, event_id: int) -> Any:
    return _as(user).post(f"/api/v1/events/{event_id}/rsvp/")


# --- capacity -------------------------------------------------------------------------------
def test_rsvps_stop_at_the_capacity_with_event_full() -> None:
    host, first, second, late = MemberFactory(), MemberFactory(), MemberFactory(), MemberFactory()
    created = _create(host, capacity=2)
    assert created.status_code == 201, created.json()
    assert created.json()["capacity"] == 2
    event_id = created.json()["id"]

    assert _rsvp(first, event_id).status_code == 200
    assert _rsvp(second, event_id).json()["rsvp_count"] == 2
    refused = _rsvp(late, event_id)

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "event_full"
    assert "full" in refused.json()["error"]["message"]
    assert not EventRSVP.objects.filter(event_id=event_id, user=late).exists()


def test_an_rsvp_already_taken_stays_idempotent_when_full_and_a_cancel_frees_a_seat() -> None:
    host, going, waiting = MemberFactory(), MemberFactory(), MemberFactory()
    event_id = _create(host, capacity=1).json()["id"]
    assert _rsvp(going, event_id).status_code == 200
    assert _rsvp(going, event_id).status_code == 200  # again: still going, not "full"
    assert _rsvp(waiting, event_id).json()["error"]["code"] == "event_full"

    assert _as(going).delete(f"/api/v1/events/{event_id}/rsvp/").status_code == 200
    assert _rsvp(waiting, event_id).json()["going"] is True


@pytest.mark.django_db(transaction=True)
def test_concurrent_rsvps_never_pass_the_capacity() -> None:
    event = EventFactory(capacity=1)
    people = [MemberFactory() for _ in range(4)]
    codes: list[str] = []
    barrier = threading.Barrier(len(people))

    def rsvp(person: Any) -> None:
        barrier.wait()
        try:
            schedule_services.event_rsvp_set(user=person, event_id=event.pk, going=True)
            codes.append("ok")
        except ApplicationError as error:
            codes.append(error.code)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=rsvp, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(codes) == ["event_full", "event_full", "event_full", "ok"]
    assert EventRSVP.objects.filter(event=event).count() == 1


@pytest.mark.parametrize("capacity", [0, -3, 10**9])
def test_a_capacity_out_of_range_is_a_field_error(capacity: int) -> None:
    refused = _create(MemberFactory(), capacity=capacity)
    assert refused.status_code == 400
    assert "capacity" in refused.json()["error"]["fields"]


def test_the_capacity_cannot_go_below_the_rsvps_taken_and_can_be_removed() -> None:
    host = MemberFactory()
    event = EventFactory(created_by=host, capacity=5)
    for person in (MemberFactory(), MemberFactory(), MemberFactory()):
        EventRSVP.objects.create(event=event, user=person)

    lower = _as(host).patch(f"/api/v1/events/{event.pk}/", {"capacity": 2}, format="json")
    assert lower.status_code == 409
    assert lower.json()["error"]["code"] == "capacity_below_rsvps"
    assert lower.json()["error"]["fields"]["capacity"]

    removed = _as(host).patch(f"/api/v1/events/{event.pk}/", {"capacity": None}, format="json")
    assert removed.status_code == 200
    assert removed.json()["capacity"] is None


def test_the_events_room_inherits_the_cap_with_room_for_its_hosts() -> None:
    host, cohost = MemberFactory(), MemberFactory()
    event = EventFactory(created_by=host, hosts=[host, cohost], capacity=3)

    room = schedule_services.event_start_room(user=host, event_id=event.pk)

    assert room.capacity == 3 + 2


def test_an_event_without_capacity_opens_a_room_of_the_default_size(settings) -> None:
    settings.ROOM_DEFAULT_CAPACITY = 321
    event = EventFactory()
    assert schedule_services.event_start_room(
        user=event.created_by, event_id=event.pk
    ).capacity == (321)


# --- the room's type ------------------------------------------------------------------------
def test_the_events_room_opens_as_the_type_chosen_for_it() -> None:
    host, fan, stranger = MemberFactory(), MemberFactory(), MemberFactory()
    created = _create(host, room_type="closed")
    assert created.json()["room_type"] == "closed"
    event_id = created.json()["id"]
    assert _rsvp(fan, event_id).status_code == 200

    started = _as(host).post(f"/api/v1/events/{event_id}/start/", {}, format="json")

    assert started.status_code == 200, started.json()
    room_id = started.json()["room"]["id"]
    assert started.json()["room"]["type"] == "closed"
    # closed: the RSVP was invited in, a stranger is not
    assert _as(fan).post(f"/api/v1/rooms/{room_id}/join/").status_code == 200
    assert _as(stranger).post(f"/api/v1/rooms/{room_id}/join/").status_code in (403, 404)


def test_the_host_may_still_choose_another_type_when_starting() -> None:
    event = EventFactory(room_type="closed")
    room = schedule_services.event_start_room(
        user=event.created_by, event_id=event.pk, type="social"
    )
    assert room.type == "social"


def test_the_room_type_is_editable_before_the_start_and_checked() -> None:
    host = MemberFactory()
    event = EventFactory(created_by=host)
    edited = _as(host).patch(f"/api/v1/events/{event.pk}/", {"room_type": "social"}, format="json")
    assert edited.json()["room_type"] == "social"
    bad = _as(host).patch(f"/api/v1/events/{event.pk}/", {"room_type": "secret"}, format="json")
    assert bad.status_code == 400
    assert "room_type" in bad.json()["error"]["fields"]


# --- reschedule -----------------------------------------------------------------------------
def test_a_reschedule_tells_everyone_going_the_new_time() -> None:
    host, going, follower = MemberFactory(), MemberFactory(), MemberFactory()
    event = EventFactory(created_by=host, title="Jazz hour")
    EventRSVP.objects.create(event=event, user=going)
    EventRSVP.objects.create(event=event, user=host)
    follow(follower, host)
    new_time = _in(days=3).replace(microsecond=0)

    moved = _as(host).patch(
        f"/api/v1/events/{event.pk}/", {"starts_at": new_time.isoformat()}, format="json"
    )

    assert moved.status_code == 200
    assert datetime.fromisoformat(moved.json()["starts_at"]) == new_time
    told = Notification.objects.get(recipient=going)
    assert told.kind == "event_reminder"
    assert told.actor == host
    assert told.data["action"] == "rescheduled"
    assert told.data["event_id"] == event.pk
    assert datetime.fromisoformat(told.data["starts_at"]) == new_time
    assert not Notification.objects.filter(recipient__in=[host, follower]).exists()


def test_an_edit_that_keeps_the_time_tells_nobody() -> None:
    host, going = MemberFactory(), MemberFactory()
    event = EventFactory(created_by=host)
    EventRSVP.objects.create(event=event, user=going)
    _as(host).patch(
        f"/api/v1/events/{event.pk}/",
        {"title": "New name", "starts_at": event.starts_at.isoformat()},
        format="json",
    )
    assert not Notification.objects.filter(recipient=going).exists()


def test_reminders_follow_the_new_time() -> None:
    host, going = MemberFactory(), MemberFactory()
    event = EventFactory(created_by=host, starts_at=_in(minutes=5))
    EventRSVP.objects.create(event=event, user=going)
    assert schedule_services.event_reminders_send() == 1  # reminded for the old time
    later = _in(hours=5)

    schedule_services.event_update(user=host, event_id=event.pk, starts_at=later)

    assert schedule_services.event_reminders_send() == 0  # not yet: the new time is far
    assert schedule_services.event_reminders_send(now=later - timedelta(minutes=3)) == 1
    reminders = Notification.objects.filter(recipient=going, kind="event_reminder")
    latest = reminders.order_by("-id").first()
    assert latest is not None
    assert "action" not in latest.data
    assert datetime.fromisoformat(latest.data["starts_at"]) == later


def test_only_hosts_reschedule_and_never_into_the_past() -> None:
    host, other = MemberFactory(), MemberFactory()
    event = EventFactory(created_by=host)
    refused = _as(other).patch(
        f"/api/v1/events/{event.pk}/", {"starts_at": _in(days=2).isoformat()}, format="json"
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "not_host"
    past = _as(host).patch(
        f"/api/v1/events/{event.pk}/", {"starts_at": _in(hours=-1).isoformat()}, format="json"
    )
    assert past.status_code == 400
    assert "starts_at" in past.json()["error"]["fields"]


# --- members-only ---------------------------------------------------------------------------
def test_a_members_only_club_event_takes_rsvps_from_members_only() -> None:
    club = ClubFactory()
    member, stranger = MembershipFactory(club=club).user, MemberFactory()
    created = _create(club.created_by, club_id=club.pk, members_only=True, capacity=10)
    assert created.status_code == 201, created.json()
    assert created.json()["members_only"] is True
    event_id = created.json()["id"]

    assert _rsvp(member, event_id).json()["going"] is True
    refused = _rsvp(stranger, event_id)
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "event_not_found"
    assert _as(stranger).get(f"/api/v1/events/{event_id}/").status_code == 404


def test_members_only_needs_a_club_on_edit_too() -> None:
    host = MemberFactory()
    event = EventFactory(created_by=host)
    refused = _as(host).patch(f"/api/v1/events/{event.pk}/", {"members_only": True}, format="json")
    assert refused.status_code == 400
    assert "members_only" in refused.json()["error"]["fields"]
    assert not ScheduledEvent.objects.get(pk=event.pk).members_only


def test_the_event_options_are_in_the_openapi_schema(client) -> None:  # type: ignore[no-untyped-def]
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]
    for name in ("EventCreateInputRequest", "PatchedEventUpdateInputRequest"):
        properties = components[name]["properties"]
        assert {"capacity", "room_type", "members_only"} <= set(properties), name
    assert "starts_at" in components["PatchedEventUpdateInputRequest"]["properties"]


# --- co-hosts on the event's page -----------------------------------------------------------
def test_hosts_see_who_was_asked_to_cohost_and_nobody_else_does() -> None:
    host, asked, fan = MemberFactory(), MemberFactory(), MemberFactory()
    event_id = _create(host, host_ids=[asked.pk]).json()["id"]

    seen_by_host = _as(host).get(f"/api/v1/events/{event_id}/").json()
    seen_by_fan = _as(fan).get(f"/api/v1/events/{event_id}/").json()

    assert [u["username"] for u in seen_by_host["pending_cohosts"]] == [asked.username]
    assert seen_by_fan["pending_cohosts"] == []


def test_an_edit_that_names_the_pending_cohosts_again_keeps_them_asked_once() -> None:
    host, asked = MemberFactory(), MemberFactory()
    event_id = _create(host, host_ids=[asked.pk]).json()["id"]
    edited = _as(host).patch(
        f"/api/v1/events/{event_id}/", {"host_ids": [host.pk, asked.pk]}, format="json"
    )
    assert [u["id"] for u in edited.json()["pending_cohosts"]] == [asked.pk]
    assert Notification.objects.filter(recipient=asked, kind="event_cohost").count() == 1
