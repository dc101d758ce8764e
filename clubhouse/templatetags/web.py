"""Template helpers for the web client's shell (templates/base.html)."""

from __future__ import annotations

from django import template

from accounts.selectors import user_email_verified
from clubhouse.source import source_code_url as _source_code_url
from payouts.provider import provider_is_standin

register = template.Library()


@register.simple_tag
def payments_test_mode() -> bool:
    """True while the Stripe stand-in answers instead of Stripe: the header shows a banner so
    nobody mistakes a demo payment for a real one."""
    try:
        return provider_is_standin()
    except Exception:  # noqa: BLE001 - a misconfigured provider must not take every page down
        return False


@register.simple_tag
def source_code_url() -> str:
    """The footer's "Source code" link (GNU AGPL, section 13: users may get the source)."""
    return _source_code_url()


@register.simple_tag
def email_unverified(user: object) -> bool:
    """True for a logged-in person whose address is not confirmed: the header shows a banner
    with a button that mails the confirmation link again (allauth's /accounts/email/)."""
    if not getattr(user, "is_authenticated", False):
        return False
    return not user_email_verified(user)  # type: ignore[arg-type]
