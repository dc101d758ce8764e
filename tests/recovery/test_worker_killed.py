"""A Celery worker is killed (SIGKILL, the whole process group: a host or container dying) in
the middle of a month's stipend run; a new worker finishes it. Real workers, a private Redis as
the broker, the test database, the Stripe stand-in shared through its state file.

Every creator ends paid exactly once: one transfer each at the provider, one stipend journal
each in the ledger, the ledger balanced.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from django.utils import timezone

from payouts import ledger, services
from payouts.models import ConnectedAccount, StipendPayment
from payouts.provider.standin import STANDIN, StandInStripe
from tests.payouts.conftest import fund, make_user
from tests.recovery.conftest import (
    START_TIMEOUT_S,
    ChildProcess,
    RestartableRedis,
    child_env,
    spawn,
    wait_for,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

CREATORS = 40
CHUNK = 4  # ten chunk tasks: the run takes long enough to be killed in the middle
STALE_AFTER_S = 5  # PAYOUTS_STIPEND_STALE_AFTER: a dead worker's claims are swept after this
VISIBILITY_S = 5  # CELERY_VISIBILITY_TIMEOUT: its unacknowledged tasks go to another worker
FINISH_BOUND_S = 240.0
S = StipendPayment.Status


@pytest.fixture
def shared_standin(tmp_path: Path) -> Iterator[Path]:
    """The test's stand-in saved to a file each worker loads at start (and saves to)."""
    state = tmp_path / "standin.json"
    before = STANDIN.state_file
    STANDIN.reset()
    STANDIN.state_file = str(state)
    try:
        yield state
    finally:
        STANDIN.state_file = before
        STANDIN.reset()


def make_stipend_creator(month: date) -> Any:
    user, staff = make_user(), make_user(is_staff=True)
    application = services.creator_apply(user=user, pitch="I host a nightly show")
    services.creator_application_approve(
        application=application, reviewer=staff, note="ok", stipend_start_month=month
    )
    account = services.connected_account_ensure(user=user)
    STANDIN.account_activate(account.stripe_account_id)
    services.connected_account_sync(data=STANDIN.get("accounts", account.stripe_account_id))
    assert ConnectedAccount.objects.get(user=user).transfers_active
    return user


def start_worker(tmp_path: Path, name: str, broker: str, state: Path) -> ChildProcess:
    worker = spawn(
        [sys.executable, "-m", "celery", "-A", "clubhouse", "worker", "-n", f"{name}@%h",
         "-c", "1", "-P", "prefork", "-l", "info", "--without-gossip", "--without-mingle",
         "--without-heartbeat"],
        child_env(
            REDIS_URL=broker,
            CHANNEL_PREFIX=f"recovery-{name}",
            PAYOUTS_STANDIN_STATE_FILE=str(state),
            PAYOUTS_STIPEND_CHUNK=str(CHUNK),
            PAYOUTS_STIPEND_STALE_AFTER=str(STALE_AFTER_S),
            CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_S),
        ),
        tmp_path / f"{name}.log",
    )  # fmt: skip
    wait_for(
        lambda: not worker.alive() or " ready." in worker.output(),
        f"celery worker {name} is ready",
        START_TIMEOUT_S,
    )
    assert worker.alive(), f"worker {name} exited:\n{worker.output()[-4000:]}"
    return worker


def statuses() -> Counter[str]:
    return Counter(StipendPayment.objects.values_list("status", flat=True))


def test_a_worker_killed_mid_stipend_run_leaves_every_creator_paid_exactly_once(
    private_redis: RestartableRedis, shared_standin: Path, tmp_path: Path
) -> None:
    month = timezone.now().date().replace(day=1)
    fund()
    creators = [make_stipend_creator(month) for _ in range(CREATORS)]
    STANDIN._save()
    # set_as_current=False: a new Celery app becomes the current one by default, and every
    # shared task of later tests would publish to this test's (stopped) broker.
    broker = Celery("recovery-test", broker=private_redis.url, set_as_current=False)
    workers: list[ChildProcess] = []
    try:
        first = start_worker(tmp_path, "first", private_redis.url, shared_standin)
        workers.append(first)
        broker.send_task("payouts.tasks.stipends_pay_due_task")

        # Kill it once it has paid someone and before it has paid everyone.
        wait_for(lambda: statuses()[S.PAID] >= 1, "the run starts paying", FINISH_BOUND_S)
        os.killpg(first.process.pid, signal.SIGKILL)
        first.process.wait()
        killed_at = time.monotonic()
        at_kill = statuses()
        assert sum(at_kill.values()) == CREATORS
        assert at_kill[S.PAID] < CREATORS, f"the run ended before the kill: {at_kill}"
        print(f"at the kill: {dict(at_kill)}")  # noqa: T201

        # Its unacknowledged chunk tasks are handed to a worker starting after the visibility
        # timeout; the rows it had claimed, to the sweep (beat's, every 15 minutes in
        # production; sent here whenever the claims may be stale).
        while time.monotonic() < killed_at + VISIBILITY_S + 1:
            time.sleep(0.2)
        second = start_worker(tmp_path, "second", private_redis.url, shared_standin)
        workers.append(second)
        last_sweep = [0.0]

        def everyone_paid() -> bool:
            if time.monotonic() - last_sweep[0] > STALE_AFTER_S:
                broker.send_task("payouts.tasks.stipends_sweep_task")
                last_sweep[0] = time.monotonic()
            return statuses()[S.PAID] == CREATORS

        wait_for(everyone_paid, "every creator paid after the kill", FINISH_BOUND_S)
    except BaseException:
        for worker in workers:
            print(f"{worker.log.name}:\n{worker.output()[-5000:]}")  # noqa: T201
        raise
    finally:
        for worker in workers:
            worker.stop()
        broker.close()

    # At the provider: exactly one transfer per creator (the dead worker's included).
    provider = StandInStripe(str(shared_standin))
    groups = Counter(t["transfer_group"] for t in provider.objects.get("transfers", {}).values())
    payments = {p.creator_id: p for p in StipendPayment.objects.filter(month=month)}
    assert len(payments) == CREATORS
    assert {groups[payments[c.pk].transfer_group] for c in creators} == {1}
    assert sum(groups.values()) == CREATORS
    # In the ledger: each creator credited once, and every journal balanced.
    for creator in creators:
        assert ledger.creator_balances(creator) == {
            payments[creator.pk].currency.upper(): payments[creator.pk].amount
        }
    assert ledger.ledger_imbalances() == []
