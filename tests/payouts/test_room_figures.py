"""What payouts reads from rooms: Send Money's "shared a room" eligibility and creators'
audience figures (staff review applications with them)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from payouts import selectors
from rooms import services as room_services
from rooms.models import Room
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_people_who_were_in_the_same_room_recently_shared_a_room() -> None:
    host, listener, stranger = UserFactory(), UserFactory(), UserFactory()
    room = room_services.room_create(user=host, title="Live")
    room_services.room_join(user=listener, room_id=room.pk)
    room_services.room_leave(user=listener, room_id=room.pk)  # having left still counts

    assert selectors.users_shared_room_recently(listener, host)
    assert selectors.users_shared_room_recently(host, listener)
    assert not selectors.users_shared_room_recently(stranger, host)


def test_a_room_that_ended_more_than_ten_days_ago_no_longer_counts() -> None:
    host, listener = UserFactory(), UserFactory()
    room = room_services.room_create(user=host, title="Old")
    room_services.room_join(user=listener, room_id=room.pk)
    Room.objects.filter(pk=room.pk).update(
        status=Room.Status.ENDED, ended_at=timezone.now() - timedelta(days=11)
    )
    assert not selectors.users_shared_room_recently(listener, host, days=10)
    assert selectors.users_shared_room_recently(listener, host, days=12)


def test_creator_audience_counts_rooms_hosted_and_distinct_listeners_in_30_days() -> None:
    host = UserFactory()
    listeners = [UserFactory() for _ in range(3)]
    recent = room_services.room_create(user=host, title="Recent")
    for listener in listeners[:2]:
        room_services.room_join(user=listener, room_id=recent.pk)
    old = room_services.room_create(user=host, title="Old")
    room_services.room_join(user=listeners[2], room_id=old.pk)
    Room.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(days=31))
    again = room_services.room_create(user=host, title="Again")
    room_services.room_join(user=listeners[0], room_id=again.pk)  # the same person twice

    figures = selectors.creator_audience(host)
    assert figures["rooms_hosted_30d"] == 2
    assert figures["listeners_reached_30d"] == 2


def test_a_listener_who_shared_a_room_may_tip_without_following() -> None:
    from clubhouse.money import Money
    from payouts import services

    from .conftest import make_creator, make_user

    creator, sender = make_creator(), make_user()
    room = room_services.room_create(user=creator, title="Creator live")
    room_services.room_join(user=sender, room_id=room.pk)
    tip = services.tip_send(
        sender=sender, creator=creator, amount=Money(1000, "USD"), payment_method="pm_card_visa"
    )
    assert tip.status == "succeeded"
