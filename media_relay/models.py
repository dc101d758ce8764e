from django.db import models


class RelayWorker(models.Model):
    """Not a table: the admin's entry for the live relay workers. The figures come from the
    placement registry (Redis, or in-process), where each worker's heartbeat writes them; see
    `media_relay.admin.RelayWorkerAdmin` and `media_relay.health.relay_health`."""

    class Meta:
        managed = False
        # Live operations figures are for whoever is on call: superusers (the engineers), or
        # anyone a superuser gives `media_relay.view_relayworker`; no staff role holds it
        # (docs/staff.md).
        default_permissions = ("view",)
        verbose_name = "relay worker"
        verbose_name_plural = "relay workers (live metrics)"

    def __str__(self) -> str:
        return f"relay worker {self.pk}"
