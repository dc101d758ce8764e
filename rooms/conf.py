"""Rooms settings: each readable from Django settings, with these defaults."""

from django.conf import settings


def room_default_capacity() -> int:
    return int(getattr(settings, "ROOM_DEFAULT_CAPACITY", 5000))


def room_audience_page_size() -> int:
    return int(getattr(settings, "ROOM_AUDIENCE_PAGE_SIZE", 50))


def room_audience_page_max() -> int:
    return int(getattr(settings, "ROOM_AUDIENCE_PAGE_MAX", 200))


def room_hallway_page_size() -> int:
    return int(getattr(settings, "ROOM_HALLWAY_PAGE_SIZE", 20))


def event_reminder_minutes() -> int:
    """How long before an event starts its reminders go out."""
    return int(getattr(settings, "ROOM_EVENT_REMINDER_MINUTES", 10))


def room_title_max_length() -> int:
    return 120


ROOM_VISIT_RETENTION_MIN_DAYS = 30


def room_visit_retention_days() -> int:
    """How long a RoomVisit (who was in which room) is kept. Never below 30 days: creators'
    "listeners reached in the last 30 days" and Send Money's "shared a room in the last 10
    days" count them."""
    days = int(getattr(settings, "ROOM_VISIT_RETENTION_DAYS", 90))
    return max(days, ROOM_VISIT_RETENTION_MIN_DAYS)


def room_max_joined_per_user() -> int:
    """Live rooms one member may be in at once (each can hold an audio connection at the relay).
    Switching rooms on a socket leaves the first one; a closed socket's room counts until its
    grace period ends."""
    return int(getattr(settings, "ROOM_MAX_JOINED_PER_USER", 3))
