"""Celery tasks: take ids, call one service."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task
from django.utils import timezone


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def stipends_pay_due_task() -> dict[str, Any]:
    """Daily: this month's rows for every creator due (late onboarders included), each paid
    or visibly failed. A creator's failure never raises; the retry covers the database."""
    from payouts.services import stipends_pay_due

    return stipends_pay_due()


@shared_task(acks_late=True)
def stipend_pay_task(payment_id: int) -> None:
    from payouts.services import stipend_pay

    stipend_pay(payment_id=payment_id)


@shared_task(acks_late=True)
def stipend_pay_chunk_task(run_id: int, round_started: str, payment_ids: list[int]) -> None:
    """One chunk of a fanned-out stipend run (payouts/services/stipends.py, point 8)."""
    from payouts.services.stipends import stipends_pay_chunk_round

    stipends_pay_chunk_round(run_id=run_id, round_started=round_started, payment_ids=payment_ids)


@shared_task(acks_late=True)
def stipends_sweep_task() -> dict[str, int]:
    """Rows with an unknown outcome (or left by a dead worker): looked up, retried, same key."""
    from payouts.services import stipends_sweep

    ended = stipends_sweep()
    return {status: sum(p.status == status for p in ended) for status in {p.status for p in ended}}


@shared_task(acks_late=True)
def reconcile_task(days: int = 30) -> int:
    from payouts.reconciliation import reconcile

    return len(reconcile(since=timezone.now() - timedelta(days=days)))


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def ticket_refund_task(ticket_id: int) -> str:
    """Refund one ticket (idempotent: the refund carries the ticket's refund key)."""
    from payouts.services.tickets import ticket_refund_execute

    return ticket_refund_execute(ticket_id=ticket_id).status


@shared_task(acks_late=True)
def tickets_refund_sweep_task() -> list[str]:
    """Tickets' stuck refunds are retried (same key); pending refunds of any kind of charge
    (tips, memberships, tickets) whose news was lost are looked up at the provider."""
    from payouts import conf
    from payouts.services.charges import charge_refunds_refresh_stale
    from payouts.services.tickets import tickets_refund_sweep

    states = tickets_refund_sweep()
    return states + charge_refunds_refresh_stale(
        older_than_seconds=conf.ticket_refund_retry_after()
    )


@shared_task(acks_late=True)
def tips_settle_stuck_task() -> list[str]:
    """Tips whose charge got no answer are settled from the provider (payouts/services/tips.py)."""
    from payouts.services.tips import tips_settle_stuck

    return tips_settle_stuck()
