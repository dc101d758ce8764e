"""Members report rooms; staff review the reports in the back office."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.permissions import user_require_member
from clubhouse.errors import Conflict, InvalidInput, PermissionDenied
from rooms.models import RoomReport, RoomVisit
from rooms.selectors import room_get_visible

if TYPE_CHECKING:
    from accounts.models import User

REPORT_TEXT_MAX_LENGTH = 2000


def room_report_create(*, user: User, room_id: int, reason: str, text: str = "") -> RoomReport:
    """Report a room the member is or was in, or could enter now. Once per member and room:
    a second report is refused with `room_already_reported` (staff already have the first)."""
    user_require_member(user)
    errors: dict[str, list[str]] = {}
    if reason not in RoomReport.Reason.values:
        errors["reason"] = [f"One of: {', '.join(RoomReport.Reason.values)}."]
    text = (text or "").strip()
    if len(text) > REPORT_TEXT_MAX_LENGTH:
        errors["text"] = [f"At most {REPORT_TEXT_MAX_LENGTH} characters."]
    if errors:
        raise InvalidInput(fields=errors)
    # Someone who was in a room may report it after it ended (or after they were removed);
    # anyone else only a room they may look at now (404 `room_not_found` otherwise).
    if not RoomVisit.objects.filter(room_id=room_id, user=user).exists():
        room_get_visible(room_id=room_id, viewer=user)
    if RoomReport.objects.filter(room_id=room_id, reporter=user).exists():
        raise _already_reported()
    try:
        with transaction.atomic():
            return RoomReport.objects.create(
                room_id=room_id, reporter=user, reason=reason, text=text
            )
    except IntegrityError:  # the same member's report from another tab, a moment earlier
        raise _already_reported() from None


def _already_reported() -> Conflict:
    return Conflict(
        "You already reported this room; the team will review it.", code="room_already_reported"
    )


def room_report_review(
    *, report: RoomReport, reviewer: User, status: str, reason: str = ""
) -> RoomReport:
    """Staff close a report as actioned or dismissed, saying why (`reason`, kept for the staff
    audit). Idempotent; a closed report stays closed."""
    if not reviewer.is_staff:
        raise PermissionDenied("Only staff review reports.", code="staff_required")
    if status not in (RoomReport.Status.ACTIONED, RoomReport.Status.DISMISSED):
        raise InvalidInput(fields={"status": ["Actioned or dismissed."]})
    with transaction.atomic():
        report = RoomReport.objects.select_for_update().get(pk=report.pk)
        if report.status == status:
            return report
        if report.status != RoomReport.Status.OPEN:
            raise Conflict(f"This report was already {report.status}.", code="room_report_closed")
        report.status = status
        report.reviewed_at = timezone.now()
        report.reviewed_by = reviewer
        report.resolution = reason[:500]
        report.save(update_fields=["status", "reviewed_at", "reviewed_by", "resolution"])
    return report
