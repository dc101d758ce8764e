"""Payouts settings: each readable from Django settings, with these defaults.

Amounts are integer minor units of the currency they are used with.
"""

from __future__ import annotations

import sys
import tempfile
from decimal import Decimal
from pathlib import Path

from django.conf import settings

# Stripe's card pricing: a percentage (in basis points) plus a fixed fee, per currency.
# Stripe rounds the percentage part to the nearest minor unit (half up); see payouts/fees.py.
_DEFAULT_FEE_RULES: dict[str, tuple[int, int]] = {
    "USD": (290, 30),
    "EUR": (290, 25),
    "GBP": (290, 20),
    "CAD": (290, 30),
    "JPY": (360, 0),
}


def fee_rules() -> dict[str, tuple[int, int]]:
    return dict(getattr(settings, "PAYOUTS_FEE_RULES", _DEFAULT_FEE_RULES))


def fee_rule(currency: str) -> tuple[int, int]:
    """(basis points, fixed minor units) for a currency; unknown currencies use USD's."""
    rules = fee_rules()
    return rules.get(currency.upper(), rules.get("USD", (290, 30)))


def tip_min_amount() -> int:
    return int(getattr(settings, "PAYOUTS_TIP_MIN", 100))


def tip_max_amount() -> int:
    return int(getattr(settings, "PAYOUTS_TIP_MAX", 50_000))


def tip_daily_limit() -> int:
    """Per sender, per currency, over the last 24 hours (successful and in-flight tips)."""
    return int(getattr(settings, "PAYOUTS_TIP_DAILY_LIMIT", 100_000))


def tip_duplicate_window() -> int:
    """Seconds during which a tip POST without an Idempotency-Key, to the same creator for the
    same amount and currency as a tip that has not failed, is that tip again (a double tap)."""
    return int(getattr(settings, "PAYOUTS_TIP_DUPLICATE_WINDOW", 60))


def tip_stuck_after() -> int:
    """A tip still `created` (no answer from the provider) after this many seconds is settled
    by the sweep from what the provider knows. Longer than stripe-python's own retries."""
    return int(getattr(settings, "PAYOUTS_TIP_STUCK_AFTER", 15 * 60))


def tip_currencies() -> list[str]:
    return list(getattr(settings, "PAYOUTS_TIP_CURRENCIES", ["USD", "EUR", "GBP", "CAD", "JPY"]))


def stipend_default_amount() -> int:
    return int(getattr(settings, "PAYOUTS_STIPEND_DEFAULT_AMOUNT", 500_000))


def stipend_default_currency() -> str:
    return str(getattr(settings, "PAYOUTS_STIPEND_DEFAULT_CURRENCY", "USD"))


def stipend_chunk_size() -> int:
    """Rows per chunk of a stipend run: the unit a Celery worker claims and pays."""
    return max(1, int(getattr(settings, "PAYOUTS_STIPEND_CHUNK", 100)))


def stipend_stale_after_seconds() -> int:
    """A stipend row claimed this long ago is no longer in flight (no provider call lasts this
    long): the sweep looks it up at the provider and retries it with the same key."""
    return int(getattr(settings, "PAYOUTS_STIPEND_STALE_AFTER", 15 * 60))


def refund_stuck_after() -> int:
    """A refund still pending at the provider after this many seconds needs a person (the staff
    home counts it; "Ask Stripe where it stands" in admin). Card refunds usually settle within
    minutes; some take days, so the default is generous."""
    return int(getattr(settings, "PAYOUTS_REFUND_STUCK_AFTER", 24 * 60 * 60))


def ticket_platform_fee_bps() -> int:
    return int(getattr(settings, "PAYOUTS_TICKET_PLATFORM_FEE_BPS", 1000))


def connect_return_url() -> str:
    return str(getattr(settings, "PAYOUTS_CONNECT_RETURN_URL", "http://127.0.0.1:8000/wallet/"))


def connect_refresh_url() -> str:
    return str(
        getattr(settings, "PAYOUTS_CONNECT_REFRESH_URL", "http://127.0.0.1:8000/wallet/onboard/")
    )


def stripe_live_mode() -> bool:
    return bool(getattr(settings, "STRIPE_LIVE_MODE", False))


def stripe_secret_key() -> str:
    """The key of the selected mode (live with STRIPE_LIVE_MODE, else test); empty when that
    mode has none. Live mode never borrows the test key."""
    if stripe_live_mode():
        return str(getattr(settings, "STRIPE_LIVE_SECRET_KEY", "") or "")
    return str(getattr(settings, "STRIPE_TEST_SECRET_KEY", "") or "")


def stripe_standin_enabled() -> bool:
    """STRIPE_STANDIN: the operator asks for the in-process stand-in when no key is set (on by
    default with DEBUG, so `make run` needs no Stripe account; payouts/checks.py refuses it
    without DEBUG)."""
    return bool(getattr(settings, "STRIPE_STANDIN", False))


def stripe_standin_active() -> bool:
    """The stand-in answers instead of Stripe: test mode, no test key, and asked for."""
    return not stripe_live_mode() and not stripe_secret_key() and stripe_standin_enabled()


def webhook_secret() -> str:
    return str(getattr(settings, "DJSTRIPE_WEBHOOK_SECRET", "whsec_standin_local"))


def standin_state_file() -> str:
    """Where the Stripe stand-in keeps its state between processes (the demo command, then the
    server). Empty keeps it in memory; the default persists only for local development."""
    configured = getattr(settings, "PAYOUTS_STANDIN_STATE_FILE", None)
    if configured is not None:
        return str(configured)
    if not getattr(settings, "DEBUG", False) or "pytest" in sys.modules:
        return ""
    name = str(settings.DATABASES["default"].get("NAME", "db")).replace("/", "_")
    return str(Path(tempfile.gettempdir()) / f"clubhouse-stripe-standin-{name}.json")


# --- tickets ---------------------------------------------------------------------------------


def ticket_price_min() -> int:
    return int(getattr(settings, "PAYOUTS_TICKET_PRICE_MIN", 100))


def ticket_price_max() -> int:
    return int(getattr(settings, "PAYOUTS_TICKET_PRICE_MAX", 100_000))


def ticket_currencies() -> list[str]:
    return list(getattr(settings, "PAYOUTS_TICKET_CURRENCIES", tip_currencies()))


def ticket_refund_retry_after() -> int:
    """A refund still `refund_pending` after this many seconds is retried (same key)."""
    return int(getattr(settings, "PAYOUTS_TICKET_REFUND_RETRY_AFTER", 15 * 60))


# --- paid clubs (memberships) -------------------------------------------------------------------


def club_platform_fee_percent() -> Decimal:
    """Stripe's `application_fee_percent` on club subscriptions: the platform's share of each
    invoice (0-100, at most two decimals)."""
    value = Decimal(str(getattr(settings, "PAYOUTS_CLUB_PLATFORM_FEE_PERCENT", "10")))
    return value.quantize(Decimal("0.01"))


def club_price_min() -> int:
    return int(getattr(settings, "PAYOUTS_CLUB_PRICE_MIN", 100))


def club_price_max() -> int:
    return int(getattr(settings, "PAYOUTS_CLUB_PRICE_MAX", 100_000))


def club_currencies() -> list[str]:
    return list(getattr(settings, "PAYOUTS_CLUB_CURRENCIES", tip_currencies()))
