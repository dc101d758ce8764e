"""The payment provider: real Stripe when a secret key is configured, else the stand-in."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings

from payouts import conf
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
        mode = "live" if getattr(settings, "STRIPE_LIVE_MODE", False) else "test"
        return StripeProvider(key, api_version=settings.STRIPE_API_VERSION, mode=mode)
    from payouts.provider.standin import STANDIN

    return StripeProvider(
        STANDIN_API_KEY,
        api_version=settings.STRIPE_API_VERSION,
        http_client=STANDIN,
        mode="standin",
    )


def provider_is_standin() -> bool:
    return get_provider().mode == "standin"


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
