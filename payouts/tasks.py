"""Celery tasks: take ids, call one service. An edge: services never import this module; the
jobs they queue are registered here by name (payouts/jobs.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task
from django.utils import timezone

from payouts import conf
from payouts.jobs import job_register
from payouts.reconciliation import reconcile
from payouts.services import charges, stipends, tickets


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def stipends_pay_due_task() -> dict[str, Any]:
    """Daily: this month's rows for every creator due (late onboarders included), each paid
    or visibly failed. A creator's failure never raises; the retry covers the database."""
    return stipends.stipends_pay_due()


@shared_task(acks_late=True)
def stipend_pay_task(payment_id: int) -> None:
    stipends.stipend_pay(payment_id=payment_id)


@shared_task(acks_late=True)
def stipend_pay_chunk_task(run_id: int, round_started: str, payment_ids: list[int]) -> None:
    """One chunk of a fanned-out stipend run (payouts/services/stipends.py, point 8)."""
    stipends.stipends_pay_chunk_round(
        run_id=run_id, round_started=round_started, payment_ids=payment_ids
    )


@shared_task(acks_late=True)
def stipends_sweep_task() -> dict[str, int]:
    """Rows with an unknown outcome (or left by a dead worker): looked up, retried, same key."""
    ended = stipends.stipends_sweep()
    return {status: sum(p.status == status for p in ended) for status in {p.status for p in ended}}


@shared_task(acks_late=True)
def reconcile_task(days: int = 30) -> int:
    return len(reconcile(since=timezone.now() - timedelta(days=days)))


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def ticket_refund_task(ticket_id: int) -> str:
    """Refund one ticket (idempotent: the refund carries the ticket's refund key)."""
    return tickets.ticket_refund_execute(ticket_id=ticket_id).status


@shared_task(acks_late=True)
def tickets_refund_sweep_task() -> list[str]:
    """Tickets' stuck refunds are retried (same key); pending refunds of any kind of charge
    (tips, memberships, tickets) whose news was lost are looked up at the provider."""
    states = tickets.tickets_refund_sweep()
    return states + charges.charge_refunds_refresh_stale(
        older_than_seconds=conf.ticket_refund_retry_after()
    )


@shared_task(acks_late=True)
def charges_settle_stuck_task() -> list[str]:
    """Payments (tips, tickets) whose request got no answer are settled from the provider
    (payouts/services/charges.py)."""
    return charges.charges_settle_stuck()


@shared_task(acks_late=True)
def tips_settle_stuck_task() -> list[str]:
    """The sweep's name before it settled tickets too: messages already queued under it, and
    beat entries staff made, still run it (it settles every kind)."""
    return charges.charges_settle_stuck()


job_register("stipend_pay_chunk", stipend_pay_chunk_task)
job_register("ticket_refund", ticket_refund_task)
