"""The payment provider: real Stripe with the selected mode's secret key; the in-process
stand-in only when asked for (STRIPE_STANDIN, see payouts/conf.py and payouts/checks.py)."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from payouts import conf
from payouts.checks import stripe_configuration_errors
from payouts.provider.base import (
    CardDeclined,
    InsufficientFunds,
    PaymentProvider,
    ProviderError,
    ProviderUnavailable,
    StripeDict,
)
from payouts.provider.stripe_provider import StripeProvider

STANDIN_API_KEY = "sk_test_clubhouseStandInNotARealKey0000"


@lru_cache(maxsize=1)
def get_provider() -> PaymentProvider:
    key = conf.stripe_secret_key()
    if key:
        mode = "live" if conf.stripe_live_mode() else "test"
        return StripeProvider(key, api_version=settings.STRIPE_API_VERSION, mode=mode)
    if not conf.stripe_standin_active():
        # The system check refuses this at start-up; a process started without checks (daphne,
        # celery) must not take payments with the stand-in either.
        problems = "; ".join(error.msg for error in stripe_configuration_errors())
        raise ImproperlyConfigured(f"No payment provider: {problems}")
    # Loaded only in stand-in mode: it reads and writes its state file.
    from payouts.provider.standin import STANDIN

    return StripeProvider(
        STANDIN_API_KEY,
        api_version=settings.STRIPE_API_VERSION,
        http_client=STANDIN,
        mode="standin",
    )


def provider_is_standin() -> bool:
    """Whether the stand-in answers; False (never an error) when no provider is configured."""
    return conf.stripe_standin_active()


__all__ = [
    "CardDeclined",
    "InsufficientFunds",
    "PaymentProvider",
    "ProviderError",
    "ProviderUnavailable",
    "StripeDict",
    "get_provider",
    "provider_is_standin",
]
