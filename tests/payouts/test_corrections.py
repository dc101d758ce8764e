"""#13: staff resolve a discrepancy with a correcting journal posted from its admin page:
balanced, reasoned, audited, linked to the discrepancy, posted once; never an edit."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission

from accounts.models import User
from payouts import ledger, services
from payouts.ledger import Kind
from payouts.models import AuditEntry, Discrepancy, Journal, LedgerAccount
from payouts.provider.standin import STANDIN
from payouts.services.corrections import CorrectionLine, CorrectionUnbalanced

from .conftest import make_user

pytestmark = pytest.mark.django_db
REASON = "chargeback on ch_1 recovered from the creator, as agreed with them on 2 Dec"


@pytest.fixture
def discrepancy() -> Discrepancy:
    return Discrepancy.objects.create(
        kind=Discrepancy.Kind.AMOUNT_MISMATCH,
        object_type="charge",
        external_id="ch_1",
        ledger_amount=1061,
        provider_amount=561,
        ledger_currency="USD",
        provider_currency="USD",
    )


@pytest.fixture
def creator() -> User:
    return make_user()


@pytest.fixture
def staff(client) -> User:
    user = make_user(is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


def _url(d: Discrepancy) -> str:
    return f"/admin/payouts/discrepancy/{d.pk}/correct/"


def _form_key(client: Any, d: Discrepancy) -> str:
    """What the form page hands out: a fresh key per form shown."""
    page = client.get(_url(d))
    assert page.status_code == 200
    return str(page.context["form"]["key"].value())


def _post(
    client: Any,
    d: Discrepancy,
    lines: list[tuple[str, str, int | str]],
    *,
    key: str,
    reason: str = REASON,
    currency: str = "usd",
) -> Any:
    data: dict[str, Any] = {
        "key": key, "currency": currency, "reason": reason,
        "lines-TOTAL_FORMS": 5, "lines-INITIAL_FORMS": 0,
        "lines-MIN_NUM_FORMS": 2, "lines-MAX_NUM_FORMS": 1000,
    }  # fmt: skip
    for n, (kind, creator, amount) in enumerate(lines):
        data |= {f"lines-{n}-kind": kind, f"lines-{n}-creator": creator,
                 f"lines-{n}-amount": amount}  # fmt: skip
    return client.post(_url(d), data, follow=True)


def _recovery(creator: User, amount: int = 500) -> list[tuple[str, str, int | str]]:
    return [(Kind.CREATOR_PAYABLE, creator.username, -amount), (Kind.PLATFORM_BALANCE, "", amount)]


def _errors(response: Any) -> str:
    form, lines = response.context["form"], response.context["lines"]
    messages = [str(m) for errors in form.errors.values() for m in errors]
    messages += [str(m) for m in lines.non_form_errors()]
    for line in lines.forms:
        messages += [str(m) for errors in line.errors.values() for m in errors]
    return " ".join(messages)


def _nothing_written(d: Discrepancy) -> None:
    d.refresh_from_db()
    assert not d.resolved
    assert d.correction is None
    assert d.resolution_note == ""
    assert not Journal.objects.filter(kind=Journal.Kind.CORRECTION).exists()
    assert not LedgerAccount.objects.exists()  # not even an empty account
    assert not AuditEntry.objects.filter(action="correction_posted").exists()


def test_the_discrepancy_page_offers_a_correcting_journal(client, staff, discrepancy) -> None:
    page = client.get(f"/admin/payouts/discrepancy/{discrepancy.pk}/change/")
    assert b"data-post-correction" in page.content
    assert _url(discrepancy).encode() in page.content
    form = client.get(_url(discrepancy))
    assert form.context["form"]["currency"].value() == "USD"
    assert _form_key(client, discrepancy) != _form_key(client, discrepancy)


def test_a_correction_posted_from_the_discrepancy_balances_and_resolves_it(
    client, staff, discrepancy, creator
) -> None:
    response = _post(client, discrepancy, _recovery(creator), key=_form_key(client, discrepancy))

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == f"/admin/payouts/discrepancy/{discrepancy.pk}/change/"
    journal = Journal.objects.get()
    assert journal.kind == Journal.Kind.CORRECTION
    assert journal.currency == "USD"
    assert REASON in journal.description
    assert f"Correcting journal #{journal.pk} posted" in response.content.decode()
    entries = {(e.account.kind, e.account.creator_id, e.amount) for e in journal.entries.all()}
    assert entries == {(Kind.CREATOR_PAYABLE, creator.pk, -500), (Kind.PLATFORM_BALANCE, None, 500)}
    assert ledger.creator_balances(creator) == {"USD": -500}
    discrepancy.refresh_from_db()
    assert discrepancy.correction == journal
    assert discrepancy.resolved
    assert discrepancy.resolution_note == REASON
    assert discrepancy.resolved_by == staff
    assert discrepancy.resolved_at is not None
    audit = AuditEntry.objects.get(action="correction_posted")
    assert audit.subject_type == "Discrepancy"
    assert audit.subject_id == str(discrepancy.pk)
    assert audit.actor == staff
    assert f"journal #{journal.pk}" in audit.note
    assert audit.reason == REASON
    # The page now shows the correction and no longer offers another.
    page = client.get(f"/admin/payouts/discrepancy/{discrepancy.pk}/change/")
    assert b"data-post-correction" not in page.content


def test_an_unbalanced_correction_is_a_form_error_and_writes_nothing(
    client, staff, discrepancy, creator
) -> None:
    lines = [(Kind.CREATOR_PAYABLE, creator.username, -500), (Kind.PLATFORM_BALANCE, "", 400)]

    response = _post(client, discrepancy, lines, key=_form_key(client, discrepancy))

    assert response.status_code == 200
    assert "sum to -100, not zero" in _errors(response)
    _nothing_written(discrepancy)


def test_the_service_refuses_an_unbalanced_journal_too(staff, discrepancy, creator) -> None:
    with pytest.raises(CorrectionUnbalanced):
        services.correction_post(
            discrepancy=discrepancy, currency="USD", reason=REASON, actor=staff, key="k1",
            lines=[CorrectionLine(Kind.CREATOR_PAYABLE, -500, creator),
                   CorrectionLine(Kind.PLATFORM_BALANCE, 400)],
        )  # fmt: skip
    _nothing_written(discrepancy)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([(Kind.CREATOR_PAYABLE, "", -500), (Kind.PLATFORM_BALANCE, "", 500)],
         "A creator_payable line names its creator."),
        ([(Kind.CREATOR_PAYABLE, "nobody-by-that-name", -500), (Kind.PLATFORM_BALANCE, "", 500)],
         "No member is called 'nobody-by-that-name'."),
        ([(Kind.PLATFORM_FUNDING, "{creator}", -500), (Kind.PLATFORM_BALANCE, "", 500)],
         "Only creator_payable lines name a creator."),
        ([(Kind.PLATFORM_FUNDING, "", 0), (Kind.PLATFORM_BALANCE, "", 0)],
         "An entry is never zero."),
        ([(Kind.PLATFORM_BALANCE, "", 500)], "This field is required."),
    ],
    ids=["payable-without-creator", "unknown-creator", "creator-on-another-account", "zero",
         "one-line"],
)  # fmt: skip
def test_invalid_lines_are_form_errors_and_write_nothing(
    client, staff, discrepancy, creator, lines, message
) -> None:
    lines = [(kind, who.format(creator=creator.username), amount) for kind, who, amount in lines]

    response = _post(client, discrepancy, lines, key=_form_key(client, discrepancy))

    assert response.status_code == 200
    assert message in _errors(response)
    _nothing_written(discrepancy)


def test_a_missing_reason_is_a_form_error(client, staff, discrepancy, creator) -> None:
    response = _post(
        client, discrepancy, _recovery(creator), key=_form_key(client, discrepancy), reason=" "
    )
    assert "reason" in response.context["form"].errors
    _nothing_written(discrepancy)


def test_a_double_submission_posts_once(client, staff, discrepancy, creator) -> None:
    key = _form_key(client, discrepancy)

    _post(client, discrepancy, _recovery(creator), key=key)
    again = _post(client, discrepancy, _recovery(creator), key=key)

    journal = Journal.objects.get(kind=Journal.Kind.CORRECTION)
    assert f"already posted as journal #{journal.pk}" in again.content.decode()
    assert ledger.creator_balances(creator) == {"USD": -500}
    assert AuditEntry.objects.filter(action="correction_posted").count() == 1


def test_a_resolved_discrepancy_refuses_another_correction(
    client, staff, discrepancy, creator
) -> None:
    first_key = _form_key(client, discrepancy)  # a second form, opened before the first posted
    _post(client, discrepancy, _recovery(creator), key=_form_key(client, discrepancy))

    late = _post(client, discrepancy, _recovery(creator, 100), key=first_key)
    assert "already resolved" in late.content.decode()
    page = client.get(_url(discrepancy), follow=True)
    assert "already resolved" in page.content.decode()
    assert "form" not in (page.context or {})
    assert Journal.objects.filter(kind=Journal.Kind.CORRECTION).count() == 1
    assert ledger.creator_balances(creator) == {"USD": -500}


def test_without_the_permission_staff_get_403_and_no_button(client, discrepancy, creator) -> None:
    user = make_user(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_discrepancy"))
    client.force_login(user)
    page = client.get(f"/admin/payouts/discrepancy/{discrepancy.pk}/change/")
    assert page.status_code == 200
    assert b"data-post-correction" not in page.content
    assert client.get(_url(discrepancy)).status_code == 403
    assert _post(client, discrepancy, _recovery(creator), key="k").status_code == 403
    _nothing_written(discrepancy)

    user.user_permissions.add(Permission.objects.get(codename="post_correction"))
    client.force_login(user)  # a fresh permission cache
    _post(client, discrepancy, _recovery(creator), key=_form_key(client, discrepancy))
    discrepancy.refresh_from_db()
    assert discrepancy.resolved
    assert discrepancy.correction is not None
    assert STANDIN.requests == []  # a correction is the ledger's own business: Stripe not asked
