"""#13: platform top-ups are booked from Stripe's events and, when an event was lost, by staff
from admin with a reason: one `funding` journal per top-up, never two; a reversal is negated."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission

from payouts import ledger, services
from payouts.ledger import Kind
from payouts.models import AuditEntry, Journal
from payouts.provider.standin import STANDIN, StandInError
from payouts.services.funding import TopupNotSucceeded

from .conftest import make_user, post_event

pytestmark = pytest.mark.django_db
BOOK_URL = "/admin/payouts/journal/book-topup/"


def _platform_balance() -> int:
    return ledger.balance_of(Kind.PLATFORM_BALANCE, "USD")


def _event_of(topup: dict[str, Any], type_: str = "topup.succeeded") -> dict[str, Any]:
    return next(
        e for e in STANDIN.events if e["type"] == type_ and e["data"]["object"]["id"] == topup["id"]
    )


def _reversed_event(topup: dict[str, Any]) -> dict[str, Any]:
    """Stripe's `topup.reversed` (the stand-in has no helper for it yet): the same top-up, now
    `reversed`, in a Stripe-shaped event of its own."""
    with STANDIN._lock:
        return STANDIN._event("topup.reversed", {**topup, "status": "reversed"})


def _entries(journal: Journal) -> set[tuple[str, int]]:
    return {(e.account.kind, e.amount) for e in journal.entries.select_related("account")}


def _funding() -> Any:
    return Journal.objects.filter(kind=Journal.Kind.FUNDING)


# --- from Stripe's events ---------------------------------------------------------------------


def test_a_topup_succeeded_event_books_one_funding_journal_and_raises_the_platform_balance(
    client, webhook_endpoint
) -> None:
    before = _platform_balance()
    topup = STANDIN.top_up(250_000, "usd")

    assert post_event(client, webhook_endpoint, _event_of(topup)).status_code == 200

    journal = _funding().get()
    assert journal.idempotency_key == f"topup:{topup['id']}"
    assert journal.stripe_topup_id == topup["id"]
    assert journal.currency == "USD"
    assert _entries(journal) == {
        (Kind.PLATFORM_BALANCE, 250_000),
        (Kind.PLATFORM_FUNDING, -250_000),
    }
    assert "topup.succeeded" in journal.description
    assert _platform_balance() == before + 250_000
    assert AuditEntry.objects.filter(
        subject_type="Journal", subject_id=str(journal.pk), action="topup_booked"
    ).exists()


def test_replaying_the_event_books_nothing_more(client, webhook_endpoint) -> None:
    topup = STANDIN.top_up(250_000, "usd")
    event = _event_of(topup)
    for _ in range(3):
        assert post_event(client, webhook_endpoint, event).status_code == 200
    # The same top-up in another event (Stripe may send one again) is still booked once.
    services.topup_book(topup=topup, reason="booked again by hand")

    assert _funding().count() == 1
    assert _platform_balance() == 250_000
    assert AuditEntry.objects.filter(action="topup_booked").count() == 1


def test_a_reversed_topup_is_negated_by_a_new_journal(client, webhook_endpoint) -> None:
    topup = STANDIN.top_up(250_000, "usd")
    post_event(client, webhook_endpoint, _event_of(topup))
    booked = _funding().get()

    reversal = _reversed_event(topup)
    assert post_event(client, webhook_endpoint, reversal).status_code == 200
    assert post_event(client, webhook_endpoint, reversal).status_code == 200

    negation = Journal.objects.get(kind=Journal.Kind.FUNDING_REVERSED)
    assert negation.idempotency_key == f"topup:{topup['id']}:reversed"
    assert negation.stripe_topup_id == topup["id"]
    assert _entries(negation) == {(kind, -amount) for kind, amount in _entries(booked)}
    assert _platform_balance() == 0
    # The booked journal is untouched: still there, still +250 000.
    assert _entries(Journal.objects.get(pk=booked.pk)) == _entries(booked)
    assert AuditEntry.objects.filter(action="topup_reversed").count() == 1


def test_a_reversal_of_a_topup_never_booked_books_nothing(client, webhook_endpoint) -> None:
    topup = STANDIN.top_up(250_000, "usd")  # its topup.succeeded is never delivered

    assert post_event(client, webhook_endpoint, _reversed_event(topup)).status_code == 200

    assert not Journal.objects.exists()
    assert _platform_balance() == 0


def test_only_a_succeeded_topup_is_booked() -> None:
    topup = {**STANDIN.top_up(250_000, "usd"), "status": "pending"}

    with pytest.raises(TopupNotSucceeded) as refused:
        services.topup_book(topup=topup, reason="early")

    assert refused.value.code == "topup_not_succeeded"
    assert "pending" in refused.value.message
    assert not Journal.objects.exists()


# --- from admin, for a top-up whose event was lost ---------------------------------------------


@pytest.fixture
def staff(client) -> Any:
    user = make_user(is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


def _book(client: Any, topup_id: str, reason: str = "topup.succeeded never arrived") -> Any:
    return client.post(BOOK_URL, {"topup_id": topup_id, "reason": reason}, follow=True)


def _errors(response: Any) -> str:
    form = response.context["form"]
    return " ".join(str(m) for errors in form.errors.values() for m in errors)


def test_the_journal_list_links_to_the_top_up_form(client, staff) -> None:
    listing = client.get("/admin/payouts/journal/")
    assert listing.status_code == 200
    assert b"data-book-topup" in listing.content
    assert BOOK_URL.encode() in listing.content
    assert b"/admin/payouts/journal/add/" not in listing.content  # still no "add"
    assert client.get("/admin/payouts/journal/add/").status_code == 403
    assert client.get(BOOK_URL).status_code == 200


def test_staff_book_a_topup_whose_event_was_lost_once(client, staff) -> None:
    topup = STANDIN.top_up(400_000, "usd")  # the event is never delivered

    response = _book(client, topup["id"], reason="event lost during the outage of 3 Dec")

    assert response.status_code == 200
    assert f"Top-up {topup['id']} booked" in response.content.decode()
    journal = _funding().get()
    assert journal.stripe_topup_id == topup["id"]
    assert "outage of 3 Dec" in journal.description
    assert _platform_balance() == 400_000
    entry = AuditEntry.objects.get(action="topup_booked")
    assert entry.actor == staff
    assert "outage of 3 Dec" in entry.reason

    again = _book(client, topup["id"])
    assert "is already booked" in again.content.decode()
    assert _funding().count() == 1
    assert _platform_balance() == 400_000


def test_the_event_arriving_after_staff_booked_it_books_nothing(
    client, staff, webhook_endpoint
) -> None:
    topup = STANDIN.top_up(400_000, "usd")
    _book(client, topup["id"])

    assert post_event(client, webhook_endpoint, _event_of(topup)).status_code == 200

    assert _funding().count() == 1
    assert _platform_balance() == 400_000


def test_an_unknown_topup_id_is_a_form_error(client, staff) -> None:
    response = _book(client, "tu_doesnotexist")

    assert response.status_code == 200
    assert "no top-up tu_doesnotexist" in _errors(response)
    assert not Journal.objects.exists()


def test_a_topup_that_has_not_succeeded_is_a_form_error(client, staff) -> None:
    topup = STANDIN.top_up(400_000, "usd")
    with STANDIN._lock:
        STANDIN.get("topups", topup["id"])["status"] = "pending"  # the bank has not paid yet

    response = _book(client, topup["id"])

    assert "is pending at Stripe, not succeeded" in _errors(response)
    assert not Journal.objects.exists()


def test_a_missing_reason_is_a_form_error_and_stripe_is_not_asked(client, staff) -> None:
    topup = STANDIN.top_up(400_000, "usd")
    asked = len(STANDIN.requests)

    response = _book(client, topup["id"], reason="   ")

    assert "reason" in response.context["form"].errors
    assert len(STANDIN.requests) == asked
    assert not Journal.objects.exists()


def test_stripe_unreachable_is_a_form_error_saying_try_again(client, staff) -> None:
    topup = STANDIN.top_up(400_000, "usd")
    STANDIN.fail_next = [StandInError(500, "api_error", "down") for _ in range(3)]  # > retries

    response = _book(client, topup["id"])

    assert "Stripe could not be reached" in _errors(response)
    assert "Try again" in _errors(response)
    assert not Journal.objects.exists()
    assert "booked" in _book(client, topup["id"]).content.decode()  # Stripe is back
    assert _funding().count() == 1


def test_staff_without_the_permission_get_403_and_no_link(client) -> None:
    topup = STANDIN.top_up(400_000, "usd")
    user = make_user(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_journal"))
    client.force_login(user)

    assert b"data-book-topup" not in client.get("/admin/payouts/journal/").content
    assert client.get(BOOK_URL).status_code == 403
    assert client.post(BOOK_URL, {"topup_id": topup["id"], "reason": "x"}).status_code == 403
    assert not Journal.objects.exists()

    user.user_permissions.add(Permission.objects.get(codename="book_topup"))
    client.force_login(user)  # a fresh permission cache
    _book(client, topup["id"])
    assert _funding().count() == 1
