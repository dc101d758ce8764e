"""One shape for a staff action, whichever app recorded it (payouts' AuditEntry, clubs'
ClubAuditEntry, accounts' AccountEvent and report resolutions, the admin's LogEntry).

Each app's selectors return these for the staff audit list (clubhouse.staff_audit) and for the
history panel on an object's admin page; the kernel only defines the shape, it reads no app.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.models import QuerySet


@dataclass(frozen=True)
class StaffActionFilter:
    """What the staff audit list is narrowed to; every field optional."""

    actor_id: int | None = None
    action: str = ""
    since: date | None = None  # inclusive
    until: date | None = None  # inclusive
    limit: int = 200


@dataclass(frozen=True)
class StaffAction:
    when: datetime
    actor: Any  # the staff member (a User), or None if their account is gone
    action: str  # the recording app's own word: "retry", "banned", "club_verified", ...
    source: str  # which app recorded it: "payouts", "clubs", "accounts", "admin"
    app_label: str  # the changed object's model, for a link to its admin page
    model: str
    object_id: str
    subject: str  # how a person reads the object: "StipendPayment #12", "@ada"
    reason: str = ""  # why, in the staff member's words
    detail: str = ""  # what changed: statuses, the admin's change message, a note

    @property
    def actor_name(self) -> str:
        # No actor: the system did it (a webhook, a worker), or the account was deleted.
        return str(self.actor) if self.actor is not None else "system"


def staff_window(
    queryset: QuerySet[Any],
    wanted: StaffActionFilter,
    *,
    actor: str,
    when: str,
    action: str | None = None,
) -> QuerySet[Any]:
    """Narrow one app's audit rows to the filter, newest first, at most `limit` of them.
    `actor`, `when` and `action` name that app's fields."""
    if wanted.actor_id is not None:
        queryset = queryset.filter(**{f"{actor}_id": wanted.actor_id})
    if wanted.action and action is not None:
        queryset = queryset.filter(**{action: wanted.action})
    if wanted.since is not None:
        queryset = queryset.filter(**{f"{when}__date__gte": wanted.since})
    if wanted.until is not None:
        queryset = queryset.filter(**{f"{when}__date__lte": wanted.until})
    return queryset.order_by(f"-{when}")[: wanted.limit]
