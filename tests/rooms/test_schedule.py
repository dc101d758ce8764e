"""Scheduled events: create/edit, RSVP, start the room, .ics, upcoming, reminders."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from accounts.models import Notification
from clubhouse.errors import ApplicationError
from rooms import schedule_selectors, schedule_services
from rooms.models import EventRSVP, RoomParticipant, ScheduledEvent
from tests.rooms.factories import EventFactory, MemberFactory, TopicFactory, block, follow

pytestmark = pytest.mark.django_db


def soon(minutes: int = 5):
    return timezone.now() + timedelta(minutes=minutes)


def test_event_create_makes_the_creator_a_host_and_asks_the_cohosts() -> None:
    creator, cohost = MemberFactory(), MemberFactory()
    topic = TopicFactory()
    event = schedule_services.event_create(
        user=creator,
        title="Launch",
        starts_at=soon(60),
        host_ids=[cohost.pk],
        topic_ids=[topic.pk],
    )
    assert set(event.hosts.all()) == {creator}  # a co-host is one once they accept
    assert event.cohost_invites.get().user == cohost
    assert list(event.topics.all()) == [topic]


def test_event_create_refuses_the_past_and_empty_titles() -> None:
    with pytest.raises(ApplicationError) as excinfo:
        schedule_services.event_create(
            user=MemberFactory(), title=" ", starts_at=timezone.now() - timedelta(hours=1)
        )
    assert set(excinfo.value.fields) == {"title", "starts_at"}


def test_only_hosts_edit_and_a_new_time_rearms_the_reminder() -> None:
    event = EventFactory(reminder_sent_at=timezone.now())
    with pytest.raises(ApplicationError) as excinfo:
        schedule_services.event_update(user=MemberFactory(), event_id=event.pk, title="x")
    assert excinfo.value.code == "not_host"
    schedule_services.event_update(user=event.created_by, event_id=event.pk, starts_at=soon(90))
    event.refresh_from_db()
    assert event.reminder_sent_at is None


def test_rsvp_is_idempotent() -> None:
    event, person = EventFactory(), MemberFactory()
    schedule_services.event_rsvp_set(user=person, event_id=event.pk, going=True)
    schedule_services.event_rsvp_set(user=person, event_id=event.pk, going=True)
    assert EventRSVP.objects.filter(event=event).count() == 1
    schedule_services.event_rsvp_set(user=person, event_id=event.pk, going=False)
    assert not EventRSVP.objects.filter(event=event).exists()


def test_a_host_starts_the_room_once() -> None:
    event = EventFactory(title="Book club")
    room = schedule_services.event_start_room(user=event.created_by, event_id=event.pk)
    again = schedule_services.event_start_room(user=event.created_by, event_id=event.pk)
    assert room.pk == again.pk
    assert room.title == "Book club"
    assert RoomParticipant.objects.get(room=room).user == event.created_by
    with pytest.raises(ApplicationError) as excinfo:
        schedule_services.event_start_room(user=MemberFactory(), event_id=event.pk)
    assert excinfo.value.code == "not_host"


def test_upcoming_for_you_shows_followed_hosts_rsvps_and_your_own() -> None:
    viewer = MemberFactory()
    followed = EventFactory()
    follow(viewer, followed.created_by)
    rsvped = EventFactory()
    EventRSVP.objects.create(event=rsvped, user=viewer)
    own = EventFactory(created_by=viewer)
    EventFactory()  # a stranger's
    hidden = EventFactory()
    follow(viewer, hidden.created_by)
    block(hidden.created_by, viewer)
    ids = [e.pk for e in schedule_selectors.event_list_for_you(viewer=viewer)]
    assert sorted(ids) == sorted([followed.pk, rsvped.pk, own.pk])


def test_ics_is_a_calendar_file_with_escaped_text() -> None:
    event = EventFactory(title="Tea, cake; talk", description="line1\nline2" + "x" * 200)
    ics = schedule_selectors.event_ics(event)
    assert ics.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert "SUMMARY:Tea\\, cake\\; talk\r\n" in ics
    assert f"DTSTART:{event.starts_at.strftime('%Y%m%dT%H%M%SZ')}" in ics
    assert all(len(line.encode()) <= 75 for line in ics.split("\r\n"))
    assert ics.endswith("END:VCALENDAR\r\n")


def test_reminders_go_to_followers_of_hosts_and_rsvps_once() -> None:
    event = EventFactory(starts_at=soon(5))
    fan, rsvp, stranger = MemberFactory(), MemberFactory(), MemberFactory()
    follow(fan, event.created_by)
    EventRSVP.objects.create(event=event, user=rsvp)
    EventRSVP.objects.create(event=event, user=fan)
    later = EventFactory(starts_at=soon(120))
    follow(fan, later.created_by)
    assert schedule_services.event_reminders_send() == 1
    assert schedule_services.event_reminders_send() == 0
    reminded = Notification.objects.filter(kind="event_reminder")
    assert sorted(n.recipient_id for n in reminded) == sorted([fan.pk, rsvp.pk])
    assert not stranger.notifications.exists()
    assert reminded.first().data["event_id"] == event.pk


def test_the_reminder_window_comes_from_settings(settings) -> None:
    settings.ROOM_EVENT_REMINDER_MINUTES = 180
    EventFactory(starts_at=soon(120))
    assert schedule_services.event_reminders_send() == 1


def test_the_celery_task_runs_the_service() -> None:
    from rooms.tasks import event_reminders_send_task

    EventFactory(starts_at=soon(3))
    assert event_reminders_send_task.delay().get() == 1
    assert ScheduledEvent.objects.filter(reminder_sent_at__isnull=False).count() == 1


def test_the_migration_registers_a_beat_job_every_minute() -> None:
    migration = importlib.import_module("rooms.migrations.0002_periodic_event_reminders")
    migration.register(apps, None)
    migration.register(apps, None)
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name=migration.NAME)
    assert task.task == "rooms.tasks.event_reminders_send_task"
    assert (task.interval.every, task.interval.period) == (1, "minutes")
    assert PeriodicTask.objects.filter(task=migration.TASK).count() == 1


def test_starting_an_event_invites_cohosts_and_rsvps_and_cohosts_join_as_moderators(
    django_capture_on_commit_callbacks,
) -> None:
    host, cohost, fan = MemberFactory(), MemberFactory(), MemberFactory()
    event = EventFactory(created_by=host, hosts=[host, cohost])
    EventRSVP.objects.create(event=event, user=fan)
    room = schedule_services.event_start_room(user=host, event_id=event.pk, type="closed")
    assert sorted(room.invites.values_list("user_id", flat=True)) == sorted([cohost.pk, fan.pk])
    assert Notification.objects.filter(recipient=fan, kind="room_invite").exists()
    from rooms import services

    assert services.room_join(user=fan, room_id=room.pk).role == "listener"
    with django_capture_on_commit_callbacks() as callbacks:
        joined = services.room_join(user=cohost, room_id=room.pk)
    assert joined.role == "moderator"
    assert joined.stage_since is not None
    room.refresh_from_db()
    assert room.seq == 1
    assert len(callbacks) == 1
