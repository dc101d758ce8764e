"""The creator program: applications, nominations, review, connected-account onboarding."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.services import NotificationKind, notification_create
from clubhouse.errors import Conflict, InvalidInput, PermissionDenied
from payouts import conf
from payouts.audit import audit, require_transition
from payouts.models import ConnectedAccount, CreatorApplication, CreatorProgram
from payouts.provider import get_provider, provider_is_standin
from payouts.services.programs import program_terms_describe, stipend_terms_clean
from payouts.setup import standin_connected_account

if TYPE_CHECKING:
    from accounts.models import User


class AlreadyApplied(Conflict):
    code = "creator_already_applied"
    default_message = "An application is already waiting for review."


class AlreadyCreator(Conflict):
    code = "creator_already_approved"
    default_message = "You are already in the creator program."


class NotACreator(PermissionDenied):
    code = "not_a_creator"
    default_message = "Only approved creators can do this."


def _open_application(
    user: User, *, source: str, pitch: str, nominated_by: Any
) -> CreatorApplication:
    if CreatorProgram.objects.filter(user=user).exists():
        raise AlreadyCreator()
    try:
        with transaction.atomic():
            application = CreatorApplication.objects.create(
                user=user, source=source, pitch=pitch, nominated_by=nominated_by
            )
            audit(application, "opened", to_status=application.status, actor=nominated_by or user)
    except IntegrityError as exc:  # the one-pending-per-user constraint
        raise AlreadyApplied() from exc
    return application


def creator_apply(*, user: User, pitch: str = "") -> CreatorApplication:
    return _open_application(
        user, source=CreatorApplication.Source.APPLIED, pitch=pitch, nominated_by=None
    )


def creator_nominate(*, staff: User, user: User, note: str = "") -> CreatorApplication:
    if not staff.is_staff:
        raise PermissionDenied("Only staff nominate creators.")
    return _open_application(
        user, source=CreatorApplication.Source.NOMINATED, pitch=note, nominated_by=staff
    )


def creator_application_approve(
    *,
    application: CreatorApplication,
    reviewer: User,
    note: str = "",
    send_money_enabled: bool = True,
    stipend_amount: int | None = None,
    stipend_currency: str | None = None,
    stipend_start_month: date | None = None,
    stipend_end_month: date | None = None,
) -> CreatorProgram:
    """Approve with the program's terms: Send Money on or off and, with a first month, a
    monthly stipend (the default amount unless given) until the last month, or until staff
    end it when there is none. Terms that are not valid are refused before anything changes;
    approving an approved application again returns its program."""
    terms = stipend_terms_clean(
        amount=stipend_amount if stipend_amount is not None else conf.stipend_default_amount(),
        currency=stipend_currency or conf.stipend_default_currency(),
        start_month=stipend_start_month,
        end_month=stipend_end_month,
    )
    with transaction.atomic():
        app = CreatorApplication.objects.select_for_update().get(pk=application.pk)
        if app.status == CreatorApplication.Status.APPROVED:
            return CreatorProgram.objects.get(user_id=app.user_id)
        require_transition(app, CreatorApplication.Status.APPROVED)
        previous = app.status
        app.status = CreatorApplication.Status.APPROVED
        app.review_note, app.reviewed_by, app.reviewed_at = note, reviewer, timezone.now()
        app.save(update_fields=["status", "review_note", "reviewed_by", "reviewed_at"])
        program, _ = CreatorProgram.objects.update_or_create(
            user_id=app.user_id,
            defaults={
                "application": app,
                "active": True,
                "send_money_enabled": send_money_enabled,
                "stipend_amount": terms.amount,
                "stipend_currency": terms.currency,
                "stipend_start_month": terms.start_month,
                "stipend_end_month": terms.end_month,
                "stipend_next_amount": None,
                "stipend_next_currency": "",
                "stipend_next_from": None,
                "stipend_paused_from": None,
                "stipend_resumes_month": None,
            },
        )
        audit(app, "approved", from_status=previous, to_status=app.status, actor=reviewer,
              note=f"{note}\nterms: {program_terms_describe(program)}".strip())  # fmt: skip
        terms_now = program
        transaction.on_commit(lambda: _notify_applicant(app, terms_now))
    return program


def creator_appoint(
    *,
    staff: User,
    user: User,
    note: str = "",
    send_money_enabled: bool = True,
    stipend_amount: int | None = None,
    stipend_currency: str | None = None,
    stipend_start_month: date | None = None,
    stipend_end_month: date | None = None,
) -> CreatorProgram:
    """Staff make a member a creator who never applied: a nomination, approved at once with
    its terms, in one transaction (bad terms leave no nomination behind)."""
    with transaction.atomic():
        application = creator_nominate(staff=staff, user=user, note=note)
        return creator_application_approve(
            application=application,
            reviewer=staff,
            note=note,
            send_money_enabled=send_money_enabled,
            stipend_amount=stipend_amount,
            stipend_currency=stipend_currency,
            stipend_start_month=stipend_start_month,
            stipend_end_month=stipend_end_month,
        )


def _notify_applicant(app: CreatorApplication, program: CreatorProgram | None) -> None:
    """The applicant learns the outcome of the review (the application page promises it), with
    the terms when approved and the reason when rejected. The review note is staff's and stays
    in admin."""
    data: dict[str, Any] = {"event": f"creator_{app.status}"}
    if program is not None:
        start, end = program.stipend_start_month, program.stipend_end_month
        data.update(
            send_money=program.send_money_enabled,
            stipend_amount=program.stipend_amount,
            stipend_currency=program.stipend_currency,
            stipend_start_month=f"{start:%Y-%m}" if start else None,
            stipend_end_month=f"{end:%Y-%m}" if end else None,
        )
    elif app.decision_reason:
        data["reason"] = app.decision_reason
    notification_create(recipient=app.user, kind=NotificationKind.MONEY, data=data)


def creator_application_reject(
    *, application: CreatorApplication, reviewer: User, reason: str, note: str = ""
) -> CreatorApplication:
    """Reject with a reason the applicant reads (their notice and their application's status);
    `note` is staff's own. Rejecting a rejected application again changes nothing."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Give the applicant a reason: they read it.",
                           code="rejection_reason_required",
                           fields={"reason": ["Give the applicant a reason."]})  # fmt: skip
    with transaction.atomic():
        app = CreatorApplication.objects.select_for_update().get(pk=application.pk)
        if app.status == CreatorApplication.Status.REJECTED:
            return app
        require_transition(app, CreatorApplication.Status.REJECTED)
        previous = app.status
        app.status = CreatorApplication.Status.REJECTED
        app.review_note, app.reviewed_by, app.reviewed_at = note, reviewer, timezone.now()
        app.decision_reason = reason
        app.save(update_fields=["status", "review_note", "decision_reason", "reviewed_by",
                                "reviewed_at"])  # fmt: skip
        audit(app, "rejected", from_status=previous, to_status=app.status, actor=reviewer,
              note=f"reason: {reason}" + (f"\nnote: {note}" if note else ""))  # fmt: skip
        transaction.on_commit(lambda: _notify_applicant(app, None))
    return app


def connected_account_ensure(*, user: User) -> ConnectedAccount:
    """The creator's Express account, created once (idempotency key per user)."""
    if not CreatorProgram.objects.filter(user=user, active=True).exists():
        raise NotACreator()
    existing = ConnectedAccount.objects.filter(user=user).first()
    if existing:
        return existing
    data = get_provider().account_create(
        email=user.email, user_id=user.pk, idempotency_key=f"account-{user.pk}"
    )
    try:
        with transaction.atomic():
            account = ConnectedAccount.objects.create(user=user, stripe_account_id=data["id"])
            audit(account, "created", actor=user)
            if provider_is_standin():  # so Connect events (payouts) need no call to Stripe
                standin_connected_account(account.stripe_account_id)
    except IntegrityError:
        account = ConnectedAccount.objects.get(user=user)
    return account


def connected_account_onboarding_link(*, user: User) -> str:
    account = connected_account_ensure(user=user)
    link = get_provider().account_link_create(
        account=account.stripe_account_id,
        refresh_url=conf.connect_refresh_url(),
        return_url=conf.connect_return_url(),
    )
    return str(link["url"])


def connected_account_sync(
    *, data: dict[str, Any], event_created: int | None = None
) -> ConnectedAccount | None:
    """Apply an `account.updated` payload. Older events than the last applied are ignored."""
    with transaction.atomic():
        account = (
            ConnectedAccount.objects.select_for_update()
            .filter(stripe_account_id=data.get("id"))
            .first()
        )
        if account is None:
            return None
        if (
            event_created is not None
            and account.provider_seen_at
            and event_created < account.provider_seen_at
        ):
            return account  # out of order: a newer state is already applied
        capabilities = data.get("capabilities") or {}
        was_active = account.transfers_active
        account.transfers_active = capabilities.get("transfers") == "active"
        account.charges_enabled = bool(data.get("charges_enabled"))
        account.payouts_enabled = bool(data.get("payouts_enabled"))
        account.details_submitted = bool(data.get("details_submitted"))
        if event_created is not None:
            account.provider_seen_at = event_created
        account.save()
        if was_active != account.transfers_active:
            audit(
                account,
                "transfers_capability",
                from_status="active" if was_active else "inactive",
                to_status="active" if account.transfers_active else "inactive",
            )
    return account
