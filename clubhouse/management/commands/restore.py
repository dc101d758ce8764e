"""manage.py restore DUMP [--media TAR] [--force]: a backup back into the configured database
(clubhouse/backup.py), then the ledger is checked: every journal balanced, every currency
summing to zero. A restore that does not balance exits non-zero."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clubhouse.backup import BackupError, backup_restore
from payouts import ledger


class Command(BaseCommand):
    help = "Restore a backup made by `manage.py backup`, then check the ledger."
    # The target is an empty database: no check may need its tables.
    requires_system_checks = ()

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("database", type=Path, help="the .dump (PostgreSQL) or .sqlite3 file")
        parser.add_argument("--media", type=Path, default=None, help="the media-*.tar.gz")
        parser.add_argument("--force", action="store_true",
                            help="replace what the configured database holds")  # fmt: skip

    def handle(self, *args: Any, database: Path, media: Path | None, force: bool,
               **options: Any) -> None:  # fmt: skip
        try:
            backup_restore(database, media, force=force)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        unbalanced = ledger.ledger_imbalances()
        totals = ledger.ledger_totals_by_currency()
        if unbalanced or any(totals.values()):
            raise CommandError(f"restored, but the ledger does not balance: {unbalanced} {totals}")
        self.stdout.write(f"restored; ledger balanced: {ledger.journal_count()} journals")
