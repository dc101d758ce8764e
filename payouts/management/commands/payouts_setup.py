from django.core.management.base import BaseCommand

from payouts.ledger import install_database_guards
from payouts.setup import ensure_periodic_tasks


class Command(BaseCommand):
    help = "Install the ledger's database guards and the payouts beat schedules (idempotent)."

    def handle(self, *args: object, **options: object) -> None:
        install_database_guards()
        ensure_periodic_tasks()
        self.stdout.write("payouts: ledger guards and schedules are in place")
