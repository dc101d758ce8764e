from __future__ import annotations

import pytest

from accounts import services
from accounts.models import Notification
from tests.factories import NotificationFactory, UserFactory, WaitlistedUserFactory

pytestmark = pytest.mark.django_db


def test_list_newest_first_with_unread_filter(as_user) -> None:
    me = UserFactory()
    old = NotificationFactory(recipient=me)
    new = NotificationFactory(recipient=me, kind=Notification.Kind.ROOM_INVITE)
    services.notification_mark_read(user=me, notification_id=old.pk)
    NotificationFactory()  # someone else's
    client = as_user(me)
    everything = client.get("/api/v1/notifications/").json()
    assert [n["id"] for n in everything["results"]] == [new.pk, old.pk]
    assert everything["results"][0]["actor"]["username"] == new.actor.username
    unread = client.get("/api/v1/notifications/?unread=true").json()
    assert [n["id"] for n in unread["results"]] == [new.pk]
    read = client.get("/api/v1/notifications/?unread=false").json()
    assert [n["id"] for n in read["results"]] == [old.pk]


def test_list_is_paginated(as_user) -> None:
    me = UserFactory()
    for _ in range(3):
        NotificationFactory(recipient=me)
    page = as_user(me).get("/api/v1/notifications/?limit=2").json()
    assert page["count"] == 3
    assert len(page["results"]) == 2
    assert page["next"]


def test_unread_count_and_mark_one_and_all_read(as_user) -> None:
    me = UserFactory()
    first, _second, _third = (NotificationFactory(recipient=me) for _ in range(3))
    client = as_user(me)
    assert client.get("/api/v1/notifications/unread-count/").json() == {"unread": 3}
    marked = client.post(f"/api/v1/notifications/{first.pk}/read/")
    assert marked.status_code == 200
    assert marked.json()["read"] is True
    read_at = marked.json()["read_at"]
    again = client.post(f"/api/v1/notifications/{first.pk}/read/")
    assert again.json()["read_at"] == read_at  # idempotent
    assert client.get("/api/v1/notifications/unread-count/").json() == {"unread": 2}
    assert client.post("/api/v1/notifications/read-all/").json() == {"marked": 2}
    assert client.get("/api/v1/notifications/unread-count/").json() == {"unread": 0}


def test_you_cannot_mark_someone_elses_notification(as_user) -> None:
    other = NotificationFactory()
    response = as_user(UserFactory()).post(f"/api/v1/notifications/{other.pk}/read/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "notification_not_found"
    other.refresh_from_db()
    assert other.read_at is None


def test_waitlisted_people_see_their_notifications(as_user) -> None:
    person = WaitlistedUserFactory()
    services.waitlist_let_in(member=UserFactory(), target=person)
    body = as_user(person).get("/api/v1/notifications/").json()
    assert [n["kind"] for n in body["results"]] == ["let_in"]


def test_bad_unread_filter_is_a_field_error(as_user) -> None:
    response = as_user(UserFactory()).get("/api/v1/notifications/?unread=maybe")
    assert response.status_code == 400
    assert "unread" in response.json()["error"]["fields"]


def test_list_query_count_does_not_grow_with_the_page(as_user) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    me = UserFactory()
    NotificationFactory(recipient=me)
    client = as_user(me)
    with CaptureQueriesContext(connection) as small:
        client.get("/api/v1/notifications/")
    for _ in range(10):
        NotificationFactory(recipient=me)
    with CaptureQueriesContext(connection) as big:
        client.get("/api/v1/notifications/")
    assert len(big) == len(small)
