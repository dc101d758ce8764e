"""Telling people a room started, off the request: a member who starts an open room notifies
everyone who follows them (the notification, the socket push and, on their devices, a Web
Push), which for a popular member is many rows. `room_create` queues this on commit.

A module of its own rather than rooms/tasks.py: the services queue it, and rooms/tasks.py
imports the services (a cycle)."""

from __future__ import annotations

from celery import shared_task

from accounts.services import NotificationKind, notifications_to_followers_create
from rooms.models import Room

ROOM_STARTED_TASK = "rooms.notify.room_started_notify"


@shared_task(name=ROOM_STARTED_TASK, ignore_result=True)
def room_started_notify(room_id: int) -> int:
    room = Room.objects.filter(pk=room_id, status=Room.Status.LIVE).first()
    if room is None or room.created_by_id is None:
        return 0  # ended before the job ran: nothing worth a notification
    return notifications_to_followers_create(
        actor_id=room.created_by_id,
        kind=NotificationKind.ROOM_STARTED,
        data={"room_id": room.pk, "title": room.title},
    )
