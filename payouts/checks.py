"""System checks for the payment configuration: `check --deploy`, `migrate` and `runserver`
refuse to start with a configuration that would take payments with the in-process stand-in in
production, or run live mode without the live key.

They read settings only: nothing here contacts Stripe.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from payouts import conf

_TEST_PREFIXES = ("sk_test_", "rk_test_")
_LIVE_PREFIXES = ("sk_live_", "rk_live_")

_KEYS_HINT = (
    "Set STRIPE_TEST_SECRET_KEY (Stripe's test mode) or STRIPE_LIVE_MODE=true with "
    "STRIPE_LIVE_SECRET_KEY; for local development only, DJANGO_DEBUG=1 with STRIPE_STANDIN=1 "
    "(the default with DEBUG) runs the in-process stand-in. See docs/operations.md."
)


def _setting(name: str) -> str:
    return str(getattr(settings, name, "") or "").strip()


def stripe_configuration_errors() -> list[checks.CheckMessage]:
    live_key, test_key = _setting("STRIPE_LIVE_SECRET_KEY"), _setting("STRIPE_TEST_SECRET_KEY")
    if conf.stripe_live_mode():
        if not live_key:
            return [
                checks.Error(
                    "STRIPE_LIVE_MODE is on but STRIPE_LIVE_SECRET_KEY is empty: live mode "
                    "takes real payments and never falls back to the test key or the stand-in.",
                    hint="Set STRIPE_LIVE_SECRET_KEY, or turn STRIPE_LIVE_MODE off.",
                    id="payouts.E001",
                )
            ]
        if live_key.startswith(_TEST_PREFIXES):
            return [
                checks.Error(
                    "STRIPE_LIVE_SECRET_KEY holds a test key (sk_test_/rk_test_) in live mode.",
                    hint="Give it the live secret key (sk_live_...).",
                    id="payouts.E004",
                )
            ]
        return []
    if test_key:
        if test_key.startswith(_LIVE_PREFIXES):
            return [
                checks.Error(
                    "STRIPE_TEST_SECRET_KEY holds a live key (sk_live_/rk_live_): it would take "
                    "real payments while the site says it is in test mode.",
                    hint="Give it a test key (sk_test_...), or set STRIPE_LIVE_MODE=true and "
                    "move the key to STRIPE_LIVE_SECRET_KEY.",
                    id="payouts.E005",
                )
            ]
        return []
    if not conf.stripe_standin_enabled():
        return [
            checks.Error(
                "No Stripe secret key is configured and the Stripe stand-in is not enabled "
                "(STRIPE_STANDIN): payments cannot be taken.",
                hint=_KEYS_HINT,
                id="payouts.E002",
            )
        ]
    if not settings.DEBUG:
        return [
            checks.Error(
                "STRIPE_STANDIN asks for the in-process Stripe stand-in with DEBUG off: it "
                "accepts any test card, lets anyone complete 3-D Secure through "
                "/api/v1/payouts/standin/authenticate/ and keeps its state in one process. "
                "It is for development only.",
                hint=_KEYS_HINT,
                id="payouts.E003",
            )
        ]
    return []


def stripe_configuration_check(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    return stripe_configuration_errors()
