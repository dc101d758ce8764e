"""Loads demo data for `make run`: each app contributes from its own `<app>/demo.py`.

Idempotent: running it twice changes nothing the second time, except that the staff
password is printed again (and reset, so the printed one always works).
"""

from __future__ import annotations

import importlib
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

APPS_IN_ORDER = ["accounts", "rooms", "clubs", "payouts", "media_relay"]


class Command(BaseCommand):
    help = "Load demo data (a staff superuser, demo members, follows, invitations, ...)."

    def handle(self, *args: Any, **options: Any) -> None:
        for app in APPS_IN_ORDER:
            try:
                module = importlib.import_module(f"{app}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{app}.demo":
                    raise
                continue
            with transaction.atomic():
                for line in module.load():
                    self.stdout.write(line)
