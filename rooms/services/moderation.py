"""Removing people, inviting (pinging) them in, and the room's pinned link."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from accounts.permissions import user_require_member
from accounts.selectors import user_is_blocked_between
from accounts.services import NotificationKind, notification_create
from clubhouse.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from rooms import events
from rooms.models import (
    PINNED_TITLE_MAX_LENGTH,
    PINNED_URL_MAX_LENGTH,
    Room,
    RoomInvite,
    RoomRemoval,
)
from rooms.selectors import pinned_link, user_card
from rooms.services.common import (
    Role,
    actor_get,
    hands_count,
    participant_get,
    require_moderator,
    room_lock_live,
    stage_event_send,
)

if TYPE_CHECKING:
    from accounts.models import User
else:
    User = get_user_model()


# --- removal, invites, pings --------------------------------------------------------------
def room_user_remove(*, user: User, room_id: int, target_id: int) -> RoomRemoval:
    """A moderator removes someone: they leave now and can never rejoin this room."""
    user_require_member(user)
    with transaction.atomic():
        room = room_lock_live(room_id)
        require_moderator(actor_get(room, user))
        if target_id == user.pk:
            raise Conflict("You cannot remove yourself; leave instead.", code="cannot_remove_self")
        existing = RoomRemoval.objects.filter(room=room, user_id=target_id).first()
        if existing is not None:
            return existing
        target_user = User.objects.filter(pk=target_id).first()
        if target_user is None:
            raise NotFound("No such person.", code="user_not_found")
        target = participant_get(room, target_user)
        if target is not None and target.role == Role.MODERATOR:
            raise Conflict("Remove their moderator role first.", code="cannot_remove_moderator")
        removal = RoomRemoval.objects.create(room=room, user=target_user, removed_by=user)
        RoomInvite.objects.filter(room=room, user=target_user).delete()
        if target is not None:
            target.delete()
            # Someone on stage leaves with the room.user_removed event below; a listener also
            # changes the audience count.
            if not target.on_stage:
                events.room_audience_changed(room_id=room.pk)
        stage_event_send(
            room,
            type="room.user_removed",
            data={
                "user_id": target_id,
                "by": user.pk,
                "was_on_stage": bool(target and target.on_stage),
            },
        )
        if target is not None and target.hand_raised_at is not None:
            stage_event_send(
                room,
                type="room.hands_changed",
                data={"count": hands_count(room)},
            )
        events.user_event_send(user_id=target_id, room_id=room.pk, type="room.removed", data={})
    return removal


def room_ping(
    *, user: User, room_id: int, target_id: int, event_id: int | None = None
) -> RoomInvite:
    """Invite a person into the room (a notification and a personal push).

    `event_id`: the ping is the scheduled event's start reaching its RSVPs and co-hosts; the
    notification carries it, which makes it a Web Push ("an event you RSVP'd is starting").

    The invitation admits the person past the room type's rule, so who may send it follows the
    type: anyone in an open room, people on stage in a social room (the room is for people
    speakers vouch for), moderators in a closed room."""
    user_require_member(user)
    with transaction.atomic():
        room = room_lock_live(room_id)
        actor = actor_get(room, user)
        if room.type == Room.Type.CLOSED:
            require_moderator(actor)
        if room.type == Room.Type.SOCIAL and not actor.on_stage:
            raise PermissionDenied(
                "In a social room only people on stage can invite others.", code="not_on_stage"
            )
        if target_id == user.pk:
            raise Conflict("You are already here.", code="cannot_ping_self")
        target = User.objects.filter(pk=target_id).first()
        if target is None or not target.is_member:
            raise NotFound("No such member.", code="user_not_found")
        if user_is_blocked_between(user, target):
            raise PermissionDenied("You cannot invite this person.", code="blocked")
        if RoomRemoval.objects.filter(room=room, user=target).exists():
            raise Conflict("They were removed from this room.", code="target_removed")
        kind = RoomInvite.Kind.INVITE if room.type == Room.Type.CLOSED else RoomInvite.Kind.PING
        invite, created = RoomInvite.objects.get_or_create(
            room=room, user=target, defaults={"invited_by": user, "kind": kind}
        )
        if created:
            notification_create(
                recipient=target,
                kind=NotificationKind.ROOM_INVITE
                if kind == RoomInvite.Kind.INVITE
                else NotificationKind.ROOM_PING,
                actor=user,
                data={
                    "room_id": room.pk,
                    "title": room.title,
                    "share_token": room.share_token,
                    **({"event_id": event_id} if event_id is not None else {}),
                },
            )
            events.user_event_send(
                user_id=target.pk,
                room_id=room.pk,
                type="room.pinged",
                data={"by": user_card(user), "title": room.title, "kind": kind},
            )
    return invite


# --- the pinned link ----------------------------------------------------------------------
_url_validator = URLValidator(schemes=["http", "https"])


def pinned_link_clean(url: object, title: object = "") -> tuple[str, str]:
    """The link and title as they will be stored, or InvalidInput naming the field.

    Only http and https (never `javascript:` or `data:`), with a host, no credentials in it
    (`https://bank.example@evil.example/` reads as the bank), no spaces or control characters.
    """
    errors: dict[str, list[str]] = {}
    url = url.strip() if isinstance(url, str) else url
    if not isinstance(url, str) or not url:
        errors["url"] = ["A web address starting with http:// or https://."]
    elif len(url) > PINNED_URL_MAX_LENGTH:
        errors["url"] = [f"At most {PINNED_URL_MAX_LENGTH} characters."]
    else:
        try:
            _url_validator(url)
        except ValidationError:
            errors["url"] = ["A web address starting with http:// or https://."]
        else:
            authority = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
            if "@" in authority:
                errors["url"] = ["A web address without a user name or password in it."]
    if title is None:
        title = ""
    if not isinstance(title, str):
        errors["title"] = ["A short text."]
    else:
        title = " ".join(title.split())  # no newlines or control whitespace in one line
        if len(title) > PINNED_TITLE_MAX_LENGTH:
            errors["title"] = [f"At most {PINNED_TITLE_MAX_LENGTH} characters."]
        elif any(ord(c) < 32 or ord(c) == 127 for c in title):
            errors["title"] = ["Letters, numbers and punctuation only."]
    if errors:
        raise InvalidInput(fields=errors)
    assert isinstance(url, str)
    assert isinstance(title, str)
    return url, title


def room_pinned_link_set(*, user: User, room_id: int, url: object, title: object = "") -> Room:
    """A moderator pins a link everyone in the room sees (replacing any pinned before).
    Pinning the same link and title again changes nothing and sends nothing."""
    user_require_member(user)
    url, title = pinned_link_clean(url, title)
    with transaction.atomic():
        room = room_lock_live(room_id)
        require_moderator(actor_get(room, user))
        if room.pinned_url == url and room.pinned_title == title:
            return room
        room.pinned_url, room.pinned_title = url, title
        room.pinned_by, room.pinned_at = user, timezone.now()
        room.save(update_fields=["pinned_url", "pinned_title", "pinned_by", "pinned_at"])
        stage_event_send(
            room,
            type="room.pinned_link_changed",
            data={"pinned_link": pinned_link(room), "by": user.pk},
        )
    return room


def room_pinned_link_clear(*, user: User, room_id: int) -> Room:
    """A moderator takes the pinned link down (idempotent: nothing pinned, nothing sent)."""
    user_require_member(user)
    with transaction.atomic():
        room = room_lock_live(room_id)
        require_moderator(actor_get(room, user))
        if not room.pinned_url:
            return room
        room.pinned_url, room.pinned_title = "", ""
        room.pinned_by, room.pinned_at = None, None
        room.save(update_fields=["pinned_url", "pinned_title", "pinned_by", "pinned_at"])
        stage_event_send(
            room, type="room.pinned_link_changed", data={"pinned_link": None, "by": user.pk}
        )
    return room
