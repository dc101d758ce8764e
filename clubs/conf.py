"""Clubs settings: each readable from Django settings, with these defaults."""

from datetime import timedelta

from django.conf import settings


def photo_max_bytes() -> int:
    return int(getattr(settings, "CLUBS_PHOTO_MAX_BYTES", 2 * 1024 * 1024))


def premium_grace() -> timedelta:
    """How long a past-due premium membership keeps access after its period ended."""
    return timedelta(days=int(getattr(settings, "CLUBS_PREMIUM_GRACE_DAYS", 3)))
