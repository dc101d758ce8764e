"""Loads demo data for `make run`: each app contributes from its own `<app>/demo.py`.

Idempotent: running it twice changes nothing the second time, except that the staff
password is printed again (and reset, so the printed one always works).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import demo as accounts_demo
from clubs import demo as clubs_demo
from payouts import demo as payouts_demo
from rooms import demo as rooms_demo

# In dependency order: each builds on the ones before it (rooms' uses accounts' people).
DEMOS_IN_ORDER = [accounts_demo, rooms_demo, clubs_demo, payouts_demo]


class Command(BaseCommand):
    help = "Load demo data (a staff superuser, demo members, follows, invitations, ...)."

    def handle(self, *args: Any, **options: Any) -> None:
        for demo in DEMOS_IN_ORDER:
            with transaction.atomic():
                for line in demo.load():
                    self.stdout.write(line)
