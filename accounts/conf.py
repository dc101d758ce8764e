"""Accounts settings: each readable from Django settings, with these defaults."""

from datetime import timedelta

from django.conf import settings


def invitation_default_quota() -> int:
    return int(getattr(settings, "INVITATION_DEFAULT_QUOTA", 5))


def invitation_lifetime() -> timedelta:
    return timedelta(days=int(getattr(settings, "INVITATION_LIFETIME_DAYS", 7)))


def invitation_activity_follows() -> int:
    """An invitee counts as active once they follow this many people (docs/accounts.md)."""
    return int(getattr(settings, "INVITATION_ACTIVITY_FOLLOWS", 3))


def invitation_activity_award() -> int:
    """Invitations earned by the inviter when an invitee becomes active."""
    return int(getattr(settings, "INVITATION_ACTIVITY_AWARD", 1))


def waitlist_let_in_daily_limit() -> int:
    """Let-in tries (by username or e-mail, page and API together) per member per UTC day;
    every try counts, whether or not it lets someone in."""
    return int(getattr(settings, "WAITLIST_LET_IN_DAILY_LIMIT", 20))


def invitation_daily_limit() -> int:
    """Invitations a member may create per UTC day (revoking one gives the quota back, not
    the day's count)."""
    return int(getattr(settings, "INVITATION_DAILY_LIMIT", 20))


def avatar_max_bytes() -> int:
    return int(getattr(settings, "AVATAR_MAX_BYTES", 2 * 1024 * 1024))


def profile_max_links() -> int:
    return int(getattr(settings, "PROFILE_MAX_LINKS", 5))


def waitlist_allowed_path_prefixes() -> tuple[str, ...]:
    """Paths a waitlisted person may still open in the browser (everything else redirects to
    the waitlist screen). The API answers 403 `waitlisted` itself, so it stays reachable."""
    return tuple(
        getattr(
            settings,
            "WAITLIST_ALLOWED_PATH_PREFIXES",
            (
                "/waitlist/",
                "/settings/",
                "/privacy/",
                "/invite/",
                "/accounts/",
                "/_allauth/",
                "/api/",
                "/admin/",
                "/static/",
                "/media/",
                "/healthz",
                "/livez",
                "/readyz",
                # The licence's promise: everyone who uses the service may get its source.
                "/source/",
                # a mail's unsubscribe link, and the installable app's files
                "/email/unsubscribe/",
                "/manifest.webmanifest",
                "/sw.js",
                "/offline/",
            ),
        )
    )
