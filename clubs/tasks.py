"""Periodic club work: `clubs.premium_expire_due` runs every 15 minutes under celery beat
(registered by migration 0003, editable in admin); it is idempotent."""

from __future__ import annotations

from celery import shared_task

from clubs import services


@shared_task(name="clubs.premium_expire_due")
def premium_expire_due() -> int:
    return services.premium_memberships_expire_due()
