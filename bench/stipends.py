"""Stipend run benchmark: pay N creators against the Stripe stand-in (1,000 by default to keep
`make bench` bounded; `--creators 10000` or BENCH_STIPEND_CREATORS=10000 for the full run), 1% of
them refused by Stripe (their connected account lost its transfers capability).

The run fans out in chunks as it does over Celery (payouts/services/stipends.py, point 8): each
chunk is the Celery task's body, run by a pool of `--workers` threads standing in for Celery
workers, because the Stripe stand-in lives in this process (each worker process would have its
own). Side by side in one run: one worker, then `--workers`.

Runs in a throw-away test database (created and destroyed here: the ledger is append-only, so
it must never touch a real one) and writes time and queries per creator to
bench/results/stipends.json.

    python -m bench.stipends [--creators 10000]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections import deque
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clubhouse.settings")
    import django

    django.setup()


REFUSED_EVERY = 100  # 1% of creators: Stripe refuses their transfer


def _seed(n: int) -> None:
    from accounts.models import User
    from payouts.models import ConnectedAccount, CreatorProgram
    from payouts.provider.standin import STANDIN

    users = User.objects.bulk_create(
        [
            User(
                username=f"bench{i}", email=f"bench{i}@example.test", status="member", password="!"
            )
            for i in range(n)
        ],
        batch_size=2000,
    )
    CreatorProgram.objects.bulk_create(
        [
            CreatorProgram(
                user=u,
                stipend_amount=500_000,
                stipend_currency="USD",
                stipend_start_month=date(2026, 1, 1),
                stipend_end_month=date(2026, 3, 1),
            )
            for u in users
        ],
        batch_size=2000,
    )
    accounts = []
    for i, u in enumerate(users):
        acct = STANDIN._create_accounts({"type": "express", "email": u.email}, None)
        refused = i % REFUSED_EVERY == REFUSED_EVERY - 1
        acct["capabilities"] = {"transfers": "inactive" if refused else "active"}
        accounts.append(
            ConnectedAccount(user=u, stripe_account_id=acct["id"], transfers_active=True)
        )
    ConnectedAccount.objects.bulk_create(accounts, batch_size=2000)
    STANDIN.top_up(500_000 * n + 1, "usd")


def _pass(creators: int, workers: int) -> dict[str, Any]:
    """One month paid in a fresh database: inline (one worker, queries counted) or fanned out
    to `workers` threads running the Celery task's body."""
    from concurrent.futures import ThreadPoolExecutor
    from unittest import mock

    from django.db import connection, connections
    from django.test.utils import CaptureQueriesContext

    from payouts.models import StipendPayment
    from payouts.provider.standin import STANDIN
    from payouts.services import stipend_run_month
    from payouts.tasks import stipend_pay_chunk_task

    STANDIN.reset()
    STANDIN.state_file = ""  # in memory: never persist the benchmark's 10,000 transfers
    old_name = connection.settings_dict["NAME"]
    # Never the test suite's database: both may run at once.
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"bench_stipends_{old_name}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        _seed(creators)
        # Every round trip counts, BEGIN and COMMIT included (the debug cursor logs them).
        connection.queries_log = deque(maxlen=None)  # type: ignore[misc]

        def chunk(*args: Any) -> None:
            try:
                stipend_pay_chunk_task(*args)
            finally:
                connections.close_all()  # this thread's connection

        started = time.perf_counter()
        conf = stipend_pay_chunk_task.app.conf
        eager = conf.task_always_eager
        if workers == 1:
            conf.task_always_eager = True  # chunks one after the other, in this process
            try:
                with CaptureQueriesContext(connection) as first:
                    stipend_run_month(month=date(2026, 2, 1))
                queries = len(first.captured_queries)
            finally:
                conf.task_always_eager = eager
        else:
            conf.task_always_eager = False  # as with a broker
            try:
                with (
                    ThreadPoolExecutor(workers) as pool,
                    mock.patch.object(
                        stipend_pay_chunk_task, "delay", lambda *a: pool.submit(chunk, *a)
                    ),
                ):
                    stipend_run_month(month=date(2026, 2, 1))
            finally:
                conf.task_always_eager = eager
        elapsed = time.perf_counter() - started
        paid = StipendPayment.objects.filter(status="paid").count()
        failed = StipendPayment.objects.filter(status="failed").count()
        # A second run (beat firing twice) must send nothing.
        transfers = len(STANDIN.all("transfers"))
        with CaptureQueriesContext(connection) as second:
            stipend_run_month(month=date(2026, 2, 1))
        result = {
            "workers": workers,
            "paid": paid,
            "failed": failed,
            "transfers_at_provider": transfers,
            "second_run_transfers": len(STANDIN.all("transfers")) - transfers,
            "seconds": round(elapsed, 3),
            "ms_per_creator": round(1000 * elapsed / creators, 3),
            "second_run_queries": len(second.captured_queries),
        }
        if workers == 1:
            result["queries"] = queries
            result["queries_per_creator"] = round(queries / creators, 2)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    return result


def run(creators: int, workers: int = 2) -> dict[str, Any]:
    _setup_django()
    from django.apps import apps
    from django.conf import settings
    from django.test.utils import setup_test_environment

    from payouts import conf

    setup_test_environment()
    # Build tables straight from the models, as the test suite does (--no-migrations);
    # post_migrate still installs the ledger guards.
    settings.MIGRATION_MODULES = {app.label: None for app in apps.get_app_configs()}
    logging.getLogger("stripe").setLevel(logging.WARNING)
    logging.getLogger("payouts").setLevel(logging.ERROR)  # 1% refusals, one warning each
    passes = [_pass(creators, 1), _pass(creators, workers)] if workers > 1 else [_pass(creators, 1)]
    return {
        "ran_at": datetime.now(UTC).isoformat(),
        "creators": creators,
        "refused_by_stripe": creators // REFUSED_EVERY,
        "chunk": conf.stipend_chunk_size(),
        "provider": "stand-in (in-process)",
        "passes": passes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--creators",
        type=int,
        default=int(os.environ.get("BENCH_STIPEND_CREATORS", 1_000)),
        help="10000 for the full run",
    )
    parser.add_argument("--workers", type=int, default=2, help="threads standing in for workers")
    args = parser.parse_args(argv)
    result = run(args.creators, args.workers)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "stipends.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    refused = result["refused_by_stripe"]
    ok = all(
        p["paid"] == p["transfers_at_provider"] == args.creators - refused
        and p["failed"] == refused
        and p["second_run_transfers"] == 0
        for p in result["passes"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
