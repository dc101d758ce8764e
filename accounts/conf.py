"""Accounts settings: each readable from Django settings, with these defaults."""

from django.conf import settings


def invitation_default_quota() -> int:
    return int(getattr(settings, "INVITATION_DEFAULT_QUOTA", 5))
