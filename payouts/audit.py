from __future__ import annotations

from typing import Any

from clubhouse.errors import Conflict
from payouts.models import AuditEntry


def audit(
    subject: Any,
    action: str,
    *,
    from_status: str = "",
    to_status: str = "",
    actor: Any = None,
    note: str = "",
    reason: str = "",
) -> AuditEntry:
    return AuditEntry.objects.create(
        subject_type=type(subject).__name__,
        subject_id=str(subject.pk),
        action=action,
        from_status=from_status,
        to_status=to_status,
        actor=actor if getattr(actor, "pk", None) else None,
        note=note,
        reason=reason,
    )


def audit_many(subjects: list[Any], action: str, *, from_status: str = "", to_status: str = "",
               note: str = "") -> None:  # fmt: skip
    """One entry per subject, in one insert (a stipend chunk's claims)."""
    AuditEntry.objects.bulk_create(
        AuditEntry(
            subject_type=type(subject).__name__,
            subject_id=str(subject.pk),
            action=action,
            from_status=from_status,
            to_status=to_status,
            note=note,
        )
        for subject in subjects
    )


def require_transition(obj: Any, target: str) -> None:
    allowed = type(obj).TRANSITIONS.get(obj.status, set())
    if target not in allowed:
        raise Conflict(
            f"{type(obj).__name__} cannot go from {obj.status} to {target}.",
            code="illegal_transition",
        )
