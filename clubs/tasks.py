"""Periodic club work. Schedule `clubs.tasks.premium_expire_due` (e.g. every 15 minutes) in
celery beat; it is idempotent."""

from __future__ import annotations

from celery import shared_task

from clubs import services


@shared_task(name="clubs.premium_expire_due")
def premium_expire_due() -> int:
    return services.premium_memberships_expire_due()
