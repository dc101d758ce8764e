"""Staff back office for rooms. Actions call services; nothing here sets a status directly."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from accounts.selectors import admin_log_for
from clubhouse.audit import StaffAction
from clubhouse.errors import ApplicationError
from clubhouse.staff_admin import ActionsNotEditsAdmin, StaffHistoryAdmin, action_reason
from rooms import selectors, services
from rooms.models import (
    EventRSVP,
    Room,
    RoomEventLog,
    RoomInvite,
    RoomParticipant,
    RoomRemoval,
    RoomReport,
    RoomVisit,
    ScheduledEvent,
)


class RoomParticipantInline(admin.TabularInline):
    model = RoomParticipant
    extra = 0
    raw_id_fields = ["user", "speaker_invited_by"]
    readonly_fields = ["joined_at"]
    fields = ["user", "role", "muted", "stage_since", "hand_raised_at", "joined_at"]


class _LoggedAdmin(StaffHistoryAdmin):
    """Tables staff may edit through the admin's own forms: their history is the admin's log."""

    def staff_history(self, obj: Any) -> list[StaffAction]:
        return admin_log_for(obj)


@admin.register(Room)
class RoomAdmin(ActionsNotEditsAdmin, StaffHistoryAdmin):
    list_display = ["id", "title", "type", "status", "club", "created_by", "created", "ended_at"]
    list_filter = ["status", "type", "hand_raise_policy", "created"]
    search_fields = ["title", "created_by__username", "share_token"]
    raw_id_fields = ["created_by", "club"]
    readonly_fields = [
        "status",
        "seq",
        "created",
        "ended_at",
        "end_reason",
        "share_token",
        # moderators pin links through the room (with its event); staff only read them here
        "pinned_url",
        "pinned_title",
        "pinned_by",
        "pinned_at",
    ]
    filter_horizontal = ["topics"]
    inlines = [RoomParticipantInline]
    actions = ["end_rooms"]

    def staff_history(self, obj: Room) -> list[StaffAction]:
        return [*selectors.room_staff_history(obj), *admin_log_for(obj)]

    @admin.action(description="End the selected live rooms for everyone…", permissions=["change"])
    def end_rooms(self, request: HttpRequest, queryset: QuerySet[Room]) -> HttpResponse | None:
        reason = action_reason(self, request, queryset, action="end_rooms",
                               title="End these rooms for everyone in them", button="End")  # fmt: skip
        if isinstance(reason, TemplateResponse):
            return reason
        ended = 0
        for room in queryset.filter(status=Room.Status.LIVE):
            services.room_end_by_staff(staff=request.user, room_id=room.pk, reason=reason)  # type: ignore[arg-type]
            ended += 1
        self.message_user(request, f"Ended {ended} room(s).", messages.SUCCESS)
        return None


@admin.register(RoomParticipant)
class RoomParticipantAdmin(_LoggedAdmin):
    list_display = ["room", "user", "role", "muted", "joined_at", "stage_since"]
    list_filter = ["role", "muted"]
    search_fields = ["user__username", "room__title"]
    raw_id_fields = ["room", "user", "speaker_invited_by"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # people join through the app, never the back office


@admin.register(RoomEventLog)
class RoomEventLogAdmin(admin.ModelAdmin):
    """The moderation audit trail: read-only."""

    list_display = ["room", "seq", "type", "created"]
    list_filter = ["type", "created"]
    search_fields = ["room__title", "type"]
    raw_id_fields = ["room"]
    readonly_fields = ["room", "seq", "type", "data", "created"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RoomVisit)
class RoomVisitAdmin(admin.ModelAdmin):
    """Who has been in which room (eligibility and audience figures): read-only."""

    list_display = ["room", "user", "first_joined_at"]
    list_filter = ["first_joined_at"]
    search_fields = ["room__title", "user__username"]
    raw_id_fields = ["room", "user"]
    readonly_fields = ["room", "user", "first_joined_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RoomRemoval)
class RoomRemovalAdmin(_LoggedAdmin):
    list_display = ["room", "user", "removed_by", "created"]
    search_fields = ["user__username", "room__title"]
    raw_id_fields = ["room", "user", "removed_by"]


@admin.register(RoomInvite)
class RoomInviteAdmin(_LoggedAdmin):
    list_display = ["room", "user", "kind", "invited_by", "created"]
    list_filter = ["kind"]
    search_fields = ["user__username", "room__title"]
    raw_id_fields = ["room", "user", "invited_by"]


class EventRSVPInline(admin.TabularInline):
    model = EventRSVP
    extra = 0
    raw_id_fields = ["user"]


@admin.register(ScheduledEvent)
class ScheduledEventAdmin(_LoggedAdmin):
    list_display = ["title", "starts_at", "club", "created_by", "reminder_sent_at", "room"]
    list_filter = ["starts_at", "reminder_sent_at"]
    search_fields = ["title", "description", "hosts__username"]
    raw_id_fields = ["created_by", "club", "room"]
    filter_horizontal = ["hosts", "topics"]
    readonly_fields = ["reminder_sent_at", "room"]
    inlines = [EventRSVPInline]


@admin.register(RoomReport)
class RoomReportAdmin(StaffHistoryAdmin):
    """Rooms members reported, beside the user reports (accounts) and club reports (clubs):
    the same fields, reviewed with actions that call the services."""

    list_display = ["room", "reason", "status", "reporter", "created", "reviewed_by"]
    list_filter = ["status", "reason", "created"]
    search_fields = ["room__title", "reporter__username", "text"]
    list_select_related = ["room", "reporter", "reviewed_by"]
    readonly_fields = [
        "room",
        "reporter",
        "reason",
        "text",
        "status",
        "created",
        "reviewed_at",
        "reviewed_by",
        "resolution",
    ]
    actions = ["mark_actioned", "dismiss", "end_reported_rooms"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # members report from the room; staff never file one here

    # Every field is read-only: the change permission (Trust & safety's) is for the actions.

    def staff_history(self, obj: RoomReport) -> list[StaffAction]:
        return [*selectors.room_report_staff_history(obj), *admin_log_for(obj)]

    def _review(
        self, request: HttpRequest, queryset: QuerySet[RoomReport], status: str, reason: str
    ) -> None:
        done, refused = 0, []
        reviewer: Any = request.user
        for report in queryset:
            try:
                services.room_report_review(
                    report=report, reviewer=reviewer, status=status, reason=reason
                )
                done += 1
            except ApplicationError as exc:
                refused.append(f"{report}: {exc.message} ({exc.code})")
        if done:
            self.message_user(request, f"{done} report(s) {status}.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.ERROR)

    def _review_asking(
        self, request: HttpRequest, queryset: QuerySet[RoomReport], status: str, action: str
    ) -> HttpResponse | None:
        reason = action_reason(self, request, queryset, action=action,
                               title=f"Close these reports as {status}", button="Close")  # fmt: skip
        if isinstance(reason, TemplateResponse):
            return reason
        self._review(request, queryset, status, reason)
        return None

    @admin.action(description="Mark actioned…", permissions=["change"])
    def mark_actioned(
        self, request: HttpRequest, queryset: QuerySet[RoomReport]
    ) -> HttpResponse | None:
        return self._review_asking(request, queryset, RoomReport.Status.ACTIONED, "mark_actioned")

    @admin.action(description="Dismiss…", permissions=["change"])
    def dismiss(self, request: HttpRequest, queryset: QuerySet[RoomReport]) -> HttpResponse | None:
        return self._review_asking(request, queryset, RoomReport.Status.DISMISSED, "dismiss")

    @admin.action(
        description="End the reported rooms for everyone (marks the reports actioned)…",
        permissions=["change"],
    )
    def end_reported_rooms(
        self, request: HttpRequest, queryset: QuerySet[RoomReport]
    ) -> HttpResponse | None:
        reason = action_reason(self, request, queryset, action="end_reported_rooms",
                               title="End the reported rooms for everyone in them",
                               button="End")  # fmt: skip
        if isinstance(reason, TemplateResponse):
            return reason
        room_ids = set(queryset.values_list("room_id", flat=True))
        for room_id in room_ids:
            services.room_end_by_staff(staff=request.user, room_id=room_id, reason=reason)  # type: ignore[arg-type]
        self._review(
            request,
            queryset.filter(status=RoomReport.Status.OPEN),
            RoomReport.Status.ACTIONED,
            reason,
        )
        self.message_user(request, f"Ended {len(room_ids)} room(s).", messages.SUCCESS)
        return None
