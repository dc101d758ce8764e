from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PayoutsConfig(AppConfig):
    name = "payouts"

    def ready(self) -> None:
        from payouts import webhooks
        from payouts.setup import payouts_post_migrate

        webhooks.connect()
        post_migrate.connect(payouts_post_migrate, sender=self, dispatch_uid="payouts_setup")
