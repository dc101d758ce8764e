"""Stipend run benchmark: pay N creators against the Stripe stand-in (1,000 by default to keep
`make bench` bounded; `--creators 10000` or BENCH_STIPEND_CREATORS=10000 for the full run).

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
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clubhouse.settings")
    import django

    django.setup()


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
    for u in users:
        acct = STANDIN._create_accounts({"type": "express", "email": u.email}, None)
        acct["capabilities"] = {"transfers": "active"}
        accounts.append(
            ConnectedAccount(user=u, stripe_account_id=acct["id"], transfers_active=True)
        )
    ConnectedAccount.objects.bulk_create(accounts, batch_size=2000)
    STANDIN.top_up(500_000 * n + 1, "usd")


def run(creators: int) -> dict[str, Any]:
    _setup_django()
    from django.apps import apps
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_test_environment

    from payouts.models import StipendPayment
    from payouts.provider.standin import STANDIN
    from payouts.services import stipend_run_month

    STANDIN.state_file = ""  # in memory: never persist the benchmark's 10,000 transfers

    setup_test_environment()
    # Build tables straight from the models, as the test suite does (--no-migrations);
    # post_migrate still installs the ledger guards.
    settings.MIGRATION_MODULES = {app.label: None for app in apps.get_app_configs()}
    logging.getLogger("stripe").setLevel(logging.WARNING)
    old_name = connection.settings_dict["NAME"]
    # Never the test suite's database: both may run at once.
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"bench_stipends_{old_name}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        _seed(creators)
        queries = 0

        def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            nonlocal queries
            queries += 1
            return execute(sql, params, many, context)

        started = time.perf_counter()
        with connection.execute_wrapper(count):
            stipend_run_month(month=date(2026, 2, 1))
        elapsed = time.perf_counter() - started
        paid = StipendPayment.objects.filter(status="paid").count()
        # A second run (beat firing twice) must send nothing.
        queries_before = queries
        with connection.execute_wrapper(count):
            stipend_run_month(month=date(2026, 2, 1))
        rerun_queries = queries - queries_before
        result = {
            "ran_at": datetime.now(UTC).isoformat(),
            "creators": creators,
            "paid": paid,
            "transfers_at_provider": len(STANDIN.all("transfers")),
            "seconds": round(elapsed, 3),
            "ms_per_creator": round(1000 * elapsed / creators, 3),
            "queries": queries_before,
            "queries_per_creator": round(queries_before / creators, 2),
            "second_run_queries": rerun_queries,
            "provider": "stand-in (in-process)",
        }
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--creators",
        type=int,
        default=int(os.environ.get("BENCH_STIPEND_CREATORS", 1_000)),
        help="10000 for the full run (about 65 ms per creator on 2 shared cores)",
    )
    args = parser.parse_args(argv)
    result = run(args.creators)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "stipends.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if result["paid"] == result["transfers_at_provider"] == args.creators else 1


if __name__ == "__main__":
    sys.exit(main())
