from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from accounts.models import Follow, User
from payouts import ledger
from payouts.models import ConnectedAccount
from payouts.provider import get_provider
from payouts.provider.standin import STANDIN
from tests.factories import totp_activate, verified_email_add

_seq = itertools.count()


@pytest.fixture(autouse=True)
def _fresh_standin() -> Iterator[None]:
    STANDIN.reset()
    yield
    STANDIN.reset()


@pytest.fixture(autouse=True)
def _ledger_balances_after_each_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every scenario that touched the database, the ledger sums to zero per currency and
    every single journal balances."""
    yield
    if request.node.get_closest_marker("django_db") is None or request.node.get_closest_marker(
        "ledger_may_be_broken"
    ):
        return
    assert_ledger_balanced()


def assert_ledger_balanced() -> None:
    """Every journal balances and the ledger sums to zero per currency (also called by tests
    outside this folder, e.g. the browser's money tests)."""
    assert ledger.ledger_imbalances() == []
    assert all(total == 0 for total in ledger.ledger_totals_by_currency().values())


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "ledger_may_be_broken: a test that writes bad rows on purpose"
    )


def make_user(**kwargs: Any) -> User:
    n = next(_seq)
    defaults: dict[str, Any] = {
        "username": f"user{n}",
        "email": f"user{n}@example.test",
        "status": User.Status.MEMBER,
    }
    defaults.update(kwargs)
    user = User.objects.create_user(password=None, **defaults)  # unusable: no slow hashing
    if user.is_staff:
        totp_activate(user)  # the back office requires it (accounts.middleware)
    verified_email_add(user)  # tipping needs a confirmed address
    return user


def make_creator(*, stipend: bool = False, active: bool = True, **program: Any) -> User:
    from datetime import date

    from payouts import services

    user = make_user()
    staff = make_user(is_staff=True)
    application = services.creator_apply(user=user, pitch="I host a nightly show")
    services.creator_application_approve(
        application=application,
        reviewer=staff,
        note="great rooms",
        stipend_start_month=date(2026, 1, 1) if stipend else None,
        stipend_end_month=date(2026, 3, 1) if stipend else None,
        **program,
    )
    if active:
        account = services.connected_account_ensure(user=user)
        STANDIN.account_activate(account.stripe_account_id)
        services.connected_account_sync(data=STANDIN.get("accounts", account.stripe_account_id))
        assert ConnectedAccount.objects.get(user=user).transfers_active
    return user


def fund(amount: int = 10**9, currency: str = "usd") -> Any:
    """The platform tops up its Stripe balance and books it as production does (the top-up's
    `topup.succeeded` goes through services.topup_book)."""
    from payouts import services

    return services.topup_book(topup=STANDIN.top_up(amount, currency), reason="test funding")


def follow(a: User, b: User) -> None:
    Follow.objects.create(follower=a, followee=b)


@pytest.fixture
def provider() -> Any:
    return get_provider()


@pytest.fixture
def webhook_endpoint(db: None) -> Any:
    from payouts.setup import standin_webhook_endpoint

    return standin_webhook_endpoint()


def post_event(
    client: Any, endpoint: Any, event: dict[str, Any], *, secret: str | None = None
) -> Any:
    from django.urls import reverse

    from payouts import conf

    body, signature = STANDIN.signed_webhook(event, secret or conf.webhook_secret())
    return client.post(
        reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": endpoint.djstripe_uuid}),
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
    )
