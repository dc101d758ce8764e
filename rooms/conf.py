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
