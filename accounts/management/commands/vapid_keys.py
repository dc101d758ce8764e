"""Print a new Web Push (VAPID) key pair as .env lines: `manage.py vapid_keys >> .env`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.push import vapid_key_pair


class Command(BaseCommand):
    help = "Print a new VAPID key pair (VAPID_PRIVATE_KEY, VAPID_PUBLIC_KEY) as .env lines."

    def handle(self, *args: Any, **options: Any) -> None:
        private, public = vapid_key_pair()
        self.stdout.write(f"VAPID_PRIVATE_KEY={private}\nVAPID_PUBLIC_KEY={public}\n")
