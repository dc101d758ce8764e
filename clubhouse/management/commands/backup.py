"""manage.py backup DIR: the database and uploaded media (clubhouse/backup.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clubhouse.backup import BackupError, backup_make


class Command(BaseCommand):
    help = "Back up the database and uploaded media into a directory."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path)

    def handle(self, *args: Any, directory: Path, **options: Any) -> None:
        try:
            made = backup_make(directory)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"database: {made.database}")
        self.stdout.write(f"media: {made.media or 'none (MEDIA_ROOT does not exist)'}")
