"""E-mail the person can switch off (issue #17, point 4): event reminders and the weekly digest,
each with its own switch in the notification settings and a one-click unsubscribe link (a signed
token; works without logging in; also in the List-Unsubscribe header for mail clients).
Mail goes to Django's locmem outbox."""

from __future__ import annotations

import importlib
import re
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.core import mail as outbox
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from accounts import mail
from accounts.models import User
from accounts.tasks import weekly_digest_send_task
from rooms import schedule_services
from tests.factories import FollowFactory, NotificationFactory, UserFactory
from tests.rooms.factories import EventFactory

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _locmem(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://club.example"


def unsubscribe_path(message: Any) -> str:
    [link] = re.findall(r"https://club\.example(/email/unsubscribe/[^\s>]+/)", message.body)
    assert message.extra_headers["List-Unsubscribe"] == f"<https://club.example{link}>"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    return link


def remind(event: Any, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        schedule_services.event_reminders_send(now=event.starts_at - timedelta(minutes=5))


# --- event reminders ---------------------------------------------------------------------------


def test_an_event_reminder_is_mailed_with_the_event_and_an_unsubscribe_link(
    django_capture_on_commit_callbacks: Any,
) -> None:
    event = EventFactory(title="Founders' AMA", starts_at=timezone.now() + timedelta(minutes=10))
    guest = UserFactory(display_name="Grace")
    schedule_services.event_rsvp_set(user=guest, event_id=event.pk, going=True)

    remind(event, django_capture_on_commit_callbacks)

    [message] = outbox.outbox
    assert message.to == [guest.email]
    assert message.subject == "Starting soon: Founders' AMA"
    assert "Hi Grace," in message.body
    assert f"https://club.example/events/{event.pk}/" in message.body
    assert unsubscribe_path(message).startswith("/email/unsubscribe/")


def test_a_rescheduled_event_is_mailed_as_a_new_time_to_those_going(
    django_capture_on_commit_callbacks: Any,
) -> None:
    event = EventFactory(title="Founders' AMA")
    guest = UserFactory(display_name="Grace")
    schedule_services.event_rsvp_set(user=guest, event_id=event.pk, going=True)
    later = (timezone.now() + timedelta(days=9)).replace(hour=19, minute=30)

    with django_capture_on_commit_callbacks(execute=True):
        schedule_services.event_update(user=event.created_by, event_id=event.pk, starts_at=later)

    [message] = outbox.outbox
    assert message.to == [guest.email]
    assert message.subject == "New time: Founders' AMA"
    assert f"It now starts at 19:30 UTC on {later:%A} {later.day} {later:%B}" in message.body
    assert unsubscribe_path(message).startswith("/email/unsubscribe/")


def test_no_reminder_mail_for_someone_who_switched_it_off(
    django_capture_on_commit_callbacks: Any,
) -> None:
    event = EventFactory(starts_at=timezone.now() + timedelta(minutes=10))
    guest = UserFactory(email_event_reminders=False)
    schedule_services.event_rsvp_set(user=guest, event_id=event.pk, going=True)
    remind(event, django_capture_on_commit_callbacks)
    assert outbox.outbox == []
    assert guest.notifications.filter(kind="event_reminder").count() == 1  # still in the app


def test_no_reminder_mail_to_an_unconfirmed_address(
    django_capture_on_commit_callbacks: Any,
) -> None:
    event = EventFactory(starts_at=timezone.now() + timedelta(minutes=10))
    guest = UserFactory(email_verified=False)
    schedule_services.event_rsvp_set(user=guest, event_id=event.pk, going=True)
    remind(event, django_capture_on_commit_callbacks)
    assert outbox.outbox == []


# --- the unsubscribe link ------------------------------------------------------------------------


def test_the_link_opens_a_page_whose_one_button_unsubscribes_without_login(
    django_capture_on_commit_callbacks: Any,
) -> None:
    event = EventFactory(starts_at=timezone.now() + timedelta(minutes=10))
    guest = UserFactory()
    schedule_services.event_rsvp_set(user=guest, event_id=event.pk, going=True)
    remind(event, django_capture_on_commit_callbacks)
    link = unsubscribe_path(outbox.outbox[0])
    browser = Client(enforce_csrf_checks=True)  # not logged in

    page = browser.get(link)
    assert page.status_code == 200
    assert "Stop getting event reminder e-mails?" in page.content.decode()
    guest.refresh_from_db()
    assert guest.email_event_reminders is True  # opening the link (a mail scanner) changes nothing

    done = browser.post(link)
    assert done.status_code == 200
    assert "you will no longer get event reminder e-mails" in done.content.decode()
    guest.refresh_from_db()
    assert guest.email_event_reminders is False
    assert guest.email_weekly_digest is True  # only that kind of mail
    assert browser.post(link).status_code == 200  # a second click is fine


def test_a_mail_client_one_click_post_unsubscribes() -> None:
    user = UserFactory()
    link = mail.unsubscribe_url(user, "email_weekly_digest").removeprefix("https://club.example")
    response = Client(enforce_csrf_checks=True).post(
        link, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.email_weekly_digest is False


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_tampered_link_is_refused_and_changes_nothing(method: str) -> None:
    user = UserFactory()
    link = mail.unsubscribe_url(user, "email_weekly_digest").removeprefix("https://club.example")
    forged = link.replace(f"{mail.unsubscribe_token(user, 'email_weekly_digest')[:4]}", "AAAA", 1)
    response = getattr(Client(), method)(forged)
    assert response.status_code == 400
    assert "not valid" in response.content.decode()
    user.refresh_from_db()
    assert user.email_weekly_digest is True


# --- the weekly digest ----------------------------------------------------------------------


def test_the_weekly_digest_sums_up_unread_notifications_once_a_week() -> None:
    reader = UserFactory(display_name="Rita")
    NotificationFactory(recipient=reader, kind="followed")
    NotificationFactory(recipient=reader, kind="room_invite")
    NotificationFactory(recipient=reader, kind="followed", read_at=timezone.now())
    now = timezone.now()

    assert mail.weekly_digest_send(now=now) == 1
    [message] = outbox.outbox
    assert message.to == [reader.email]
    assert message.subject == "Your week on Clubhouse: 2 unread notifications"
    assert "Followed you" in message.body
    assert "Invited you to a room" in message.body
    assert "https://club.example/notifications/" in message.body
    unsubscribe_path(message)

    assert mail.weekly_digest_send(now=now + timedelta(hours=1)) == 0  # a re-run: nothing twice
    NotificationFactory(recipient=reader, kind="followed")
    assert mail.weekly_digest_send(now=now + timedelta(days=7)) == 1


def test_no_digest_for_nothing_to_say_or_for_someone_who_switched_it_off() -> None:
    UserFactory()  # nothing unread
    quiet = UserFactory(email_weekly_digest=False)
    NotificationFactory(recipient=quiet, kind="followed")
    assert mail.weekly_digest_send() == 0
    assert outbox.outbox == []


def test_the_digest_link_switches_off_the_digest_only() -> None:
    reader = UserFactory()
    NotificationFactory(recipient=reader, kind="followed")
    mail.weekly_digest_send()
    Client().post(unsubscribe_path(outbox.outbox[0]))
    reader.refresh_from_db()
    assert (reader.email_weekly_digest, reader.email_event_reminders) == (False, True)


def test_beat_runs_the_digest_weekly() -> None:
    migration = importlib.import_module("accounts.migrations.0009_notifications_push_email")
    migration.digest_register(apps, None)
    migration.digest_register(apps, None)  # idempotent
    task = PeriodicTask.objects.get(name="accounts: weekly digest")
    assert task.task == "accounts.tasks.weekly_digest_send_task"
    assert task.enabled
    assert (task.crontab.day_of_week, task.crontab.hour, task.crontab.minute) == ("1", "9", "0")
    assert PeriodicTask.objects.filter(task=migration.DIGEST_TASK).count() == 1


def test_the_celery_task_runs_the_digest() -> None:
    reader = UserFactory()
    NotificationFactory(recipient=reader, kind="followed")
    assert weekly_digest_send_task.delay().get() == 1


# --- the settings --------------------------------------------------------------------------


def test_notification_settings_read_and_switch_through_the_api() -> None:
    user = UserFactory()
    client = APIClient()
    client.force_authenticate(user)
    url = "/api/v1/me/notification-settings/"
    assert client.get(url).json() == {"email_event_reminders": True, "email_weekly_digest": True}
    response = client.patch(url, {"email_weekly_digest": False}, format="json")
    assert response.json() == {"email_event_reminders": True, "email_weekly_digest": False}
    assert User.objects.get(pk=user.pk).email_weekly_digest is False


@pytest.mark.parametrize("body", [{"email_weekly_digest": "no"}, {"email_weekly_digest": 0}])
def test_a_setting_that_is_not_a_boolean_is_a_400(body: dict[str, Any]) -> None:
    client = APIClient()
    client.force_authenticate(UserFactory())
    response = client.patch("/api/v1/me/notification-settings/", body, format="json")
    assert response.status_code == 400
    assert "email_weekly_digest" in response.json()["error"]["fields"]


def test_the_settings_page_shows_the_switches_and_the_push_explainer(client: Client) -> None:
    user = UserFactory(email_weekly_digest=False)
    client.force_login(user)
    html = client.get("/settings/").content.decode()
    assert 'name="email_event_reminders" data-email-setting checked' in html
    assert 'name="email_weekly_digest" data-email-setting>' in html
    assert "Turn on push notifications" in html


def test_the_digest_lists_the_coming_week_of_your_events() -> None:
    reader, host = UserFactory(), UserFactory()
    FollowFactory(follower=reader, followee=host)
    soon = timezone.now().replace(microsecond=0) + timedelta(days=2)
    EventFactory(title="Poetry slam", created_by=host, starts_at=soon)
    EventFactory(title="Too far off", created_by=host, starts_at=soon + timedelta(days=30))

    assert mail.weekly_digest_send() == 2  # nothing unread, but something coming up (the host too)
    [body] = [m.body for m in outbox.outbox if m.to == [reader.email]]
    assert "Coming up this week:" in body
    assert f"- Poetry slam: {soon:%a %d %b, %H:%M} UTC" in body
    assert "Too far off" not in body
