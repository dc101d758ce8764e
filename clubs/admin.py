"""Staff back office for clubs. Every action calls a service; nothing sets a status directly."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from accounts.selectors import admin_log_for
from clubhouse.audit import StaffAction
from clubhouse.errors import ApplicationError
from clubhouse.staff_admin import (
    ActionsNotEditsAdmin,
    ReasonForm,
    StaffHistoryAdmin,
    action_reason,
)
from clubs import selectors, services
from clubs.models import (
    Club,
    ClubAuditEntry,
    ClubFollow,
    ClubMembership,
    ClubMembershipRequest,
    ClubNomination,
    ClubReport,
    PremiumMembership,
    club_photo_clean,
)

if TYPE_CHECKING:
    from accounts.models import User
else:
    User = get_user_model()


def _staff(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # the admin site only lets staff in
    return request.user


def _each(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, call: Callable
) -> None:
    """Apply a service to each selected row; report successes and refusals."""
    done, refused = 0, []
    for obj in queryset:
        try:
            call(obj)
            done += 1
        except ApplicationError as exc:
            refused.append(f"{obj}: {exc.message} ({exc.code})")
    if done:
        modeladmin.message_user(request, f"{done} done.", messages.SUCCESS)
    for line in refused:
        modeladmin.message_user(request, line, messages.ERROR)


def _each_with_reason(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    call: Callable[[Any, str], Any],
    *,
    action: str,
    title: str,
    button: str,
) -> HttpResponse | None:
    """A moderation action asks why first (the page the list's action answers with); the
    reason goes to each service call, which records it in the club's audit."""
    reason = action_reason(modeladmin, request, queryset, action=action, title=title,
                           button=button)  # fmt: skip
    if isinstance(reason, TemplateResponse):
        return reason
    _each(modeladmin, request, queryset, lambda obj: call(obj, reason))
    return None


class ModeratedAdmin(admin.ModelAdmin):
    """Actions here are moderation: they need the model's "change" permission (Trust & safety),
    even where the row itself is never edited in a form."""

    def has_moderate_permission(self, request: HttpRequest) -> bool:
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


class ReadOnlyAdmin(ModeratedAdmin):
    """Rows that change only through services: listed, filtered, acted on, never edited."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MembershipInline(admin.TabularInline):
    model = ClubMembership
    extra = 0
    fields = ["user", "role", "joined_at"]
    readonly_fields = ["user", "role", "joined_at"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ClubAdminForm(forms.ModelForm):
    """A photo staff upload is cleaned like a club admin's own (clubs.models.club_photo_clean:
    re-encoded without EXIF, a random name with its real extension)."""

    # No Meta: the admin builds the form for Club with every editable field.

    def clean_photo(self) -> Any:
        photo = self.cleaned_data.get("photo")
        if isinstance(photo, UploadedFile):
            try:
                return club_photo_clean(photo)
            except DjangoValidationError as exc:
                raise forms.ValidationError(exc.messages) from exc
        return photo


@admin.register(Club)
class ClubAdmin(ActionsNotEditsAdmin, StaffHistoryAdmin):
    form = ClubAdminForm
    list_display = ["name", "slug", "join_policy", "is_exclusive", "is_verified", "created"]
    list_filter = [
        "is_verified",
        "is_exclusive",
        "join_policy",
        "follow_policy",
        "member_list_private",
        "topics",
    ]
    search_fields = ["name", "slug"]
    readonly_fields = ["is_verified", "created_by", "created", "updated"]
    filter_horizontal = ["topics"]
    inlines = [MembershipInline]
    actions = ["verify", "unverify"]

    def staff_history(self, obj: Club) -> list[StaffAction]:
        return [*selectors.club_staff_history(obj), *admin_log_for(obj)]

    @admin.action(description="Give the verification badge…", permissions=["change"])
    def verify(self, request: HttpRequest, queryset: QuerySet[Club]) -> HttpResponse | None:
        return _each_with_reason(
            self, request, queryset,
            lambda c, why: services.club_verify(club=c, actor=_staff(request), reason=why),
            action="verify", title="Give these clubs the verification badge", button="Verify",
        )  # fmt: skip

    @admin.action(description="Remove the verification badge…", permissions=["change"])
    def unverify(self, request: HttpRequest, queryset: QuerySet[Club]) -> HttpResponse | None:
        return _each_with_reason(
            self, request, queryset,
            lambda c, why: services.club_verify(club=c, actor=_staff(request), verified=False,
                                                reason=why),
            action="unverify", title="Remove these clubs' verification badge",
            button="Remove the badge",
        )  # fmt: skip


@admin.register(ClubMembership)
class ClubMembershipAdmin(StaffHistoryAdmin, ReadOnlyAdmin):
    list_display = ["club", "user", "role", "joined_at"]
    list_filter = ["role"]
    search_fields = ["club__name", "club__slug", "user__username"]
    list_select_related = ["club", "user"]
    actions = ["make_admin", "make_leader", "make_member", "remove"]

    def staff_history(self, obj: ClubMembership) -> list[StaffAction]:
        return selectors.club_membership_staff_history(obj)

    def _set_role(
        self, request: HttpRequest, queryset: QuerySet, role: str, action: str
    ) -> HttpResponse | None:
        return _each_with_reason(
            self, request, queryset,
            lambda m, why: services.club_member_set_role(
                club=m.club, actor=_staff(request), user=m.user, role=role, reason=why
            ),
            action=action, title=f"Make these people {role} of their club",
            button=f"Make {role}",
        )  # fmt: skip

    @admin.action(description="Make admin…", permissions=["moderate"])
    def make_admin(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._set_role(request, queryset, ClubMembership.Role.ADMIN, "make_admin")

    @admin.action(description="Make leader…", permissions=["moderate"])
    def make_leader(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._set_role(request, queryset, ClubMembership.Role.LEADER, "make_leader")

    @admin.action(description="Make plain member…", permissions=["moderate"])
    def make_member(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._set_role(request, queryset, ClubMembership.Role.MEMBER, "make_member")

    @admin.action(description="Remove from the club…", permissions=["moderate"])
    def remove(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return _each_with_reason(
            self, request, queryset,
            lambda m, why: services.club_member_remove(club=m.club, actor=_staff(request),
                                                       user=m.user, reason=why),
            action="remove", title="Remove these people from their club", button="Remove",
        )  # fmt: skip


@admin.register(ClubNomination)
class ClubNominationAdmin(StaffHistoryAdmin, ReadOnlyAdmin):
    list_display = ["club", "nominee", "nominated_by", "status", "created", "decided_by"]
    list_filter = ["status"]
    search_fields = ["club__name", "nominee__username"]
    list_select_related = ["club", "nominee", "nominated_by", "decided_by"]
    actions = ["approve", "reject"]

    def staff_history(self, obj: ClubNomination) -> list[StaffAction]:
        return selectors.club_decision_staff_history(obj.club, obj.nominee, "nomination")

    @admin.action(description="Approve (make them members)…", permissions=["moderate"])
    def approve(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return _each_with_reason(
            self, request, queryset,
            lambda n, why: services.club_nomination_approve(nomination=n, actor=_staff(request),
                                                            reason=why),
            action="approve", title="Approve these nominations", button="Approve",
        )  # fmt: skip

    @admin.action(description="Reject…", permissions=["moderate"])
    def reject(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return _each_with_reason(
            self, request, queryset,
            lambda n, why: services.club_nomination_reject(nomination=n, actor=_staff(request),
                                                           reason=why),
            action="reject", title="Reject these nominations", button="Reject",
        )  # fmt: skip


@admin.register(ClubMembershipRequest)
class ClubMembershipRequestAdmin(StaffHistoryAdmin, ReadOnlyAdmin):
    list_display = ["club", "user", "status", "created", "decided_by"]
    list_filter = ["status"]
    search_fields = ["club__name", "user__username"]
    list_select_related = ["club", "user", "decided_by"]
    actions = ["approve", "reject"]

    def staff_history(self, obj: ClubMembershipRequest) -> list[StaffAction]:
        return selectors.club_decision_staff_history(obj.club, obj.user, "request")

    @admin.action(description="Approve (make them members)…", permissions=["moderate"])
    def approve(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return _each_with_reason(
            self, request, queryset,
            lambda r, why: services.club_request_approve(request=r, actor=_staff(request),
                                                         reason=why),
            action="approve", title="Approve these membership requests", button="Approve",
        )  # fmt: skip

    @admin.action(description="Reject…", permissions=["moderate"])
    def reject(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return _each_with_reason(
            self, request, queryset,
            lambda r, why: services.club_request_reject(request=r, actor=_staff(request),
                                                        reason=why),
            action="reject", title="Reject these membership requests", button="Reject",
        )  # fmt: skip


class PremiumGrantForm(forms.ModelForm):
    reason = ReasonForm.base_fields["reason"]

    class Meta:
        model = PremiumMembership
        fields = ["club", "user", "current_period_end"]

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data["reason"]).strip()
        if not reason:
            raise forms.ValidationError("Say why: a reason is required.")
        return reason

    def validate_unique(self) -> None:
        """Granting again renews the existing membership (the service decides)."""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        existing = PremiumMembership.objects.filter(
            club=data.get("club"), user=data.get("user")
        ).first()
        running = (PremiumMembership.Status.ACTIVE, PremiumMembership.Status.PAST_DUE)
        if (
            existing is not None
            and existing.source == PremiumMembership.Source.SUBSCRIPTION
            and existing.status in running
        ):
            raise forms.ValidationError("This person has a running subscription.")
        return data


@admin.register(PremiumMembership)
class PremiumMembershipAdmin(StaffHistoryAdmin, ModeratedAdmin):
    """Adding one here is a staff grant (through the service); changing one is not possible:
    use the actions, or the subscription (payouts) for paid memberships."""

    list_display = ["club", "user", "status", "source", "current_period_end", "grace_until"]
    list_filter = ["status", "source"]
    search_fields = ["club__name", "user__username", "provider_subscription_id"]
    list_select_related = ["club", "user"]
    raw_id_fields = ["club", "user"]
    fields = ["club", "user", "current_period_end", "reason"]
    actions = ["grant", "revoke"]

    def staff_history(self, obj: PremiumMembership) -> list[StaffAction]:
        return selectors.club_premium_staff_history(obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        kwargs["form"] = PremiumGrantForm
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        granted = services.premium_membership_grant(
            club=obj.club, user=obj.user, actor=_staff(request), until=obj.current_period_end,
            reason=form.cleaned_data["reason"],
        )  # fmt: skip
        obj.pk = granted.pk

    @admin.action(description="Grant (or renew) open-ended premium…", permissions=["moderate"])
    def grant(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return _each_with_reason(
            self, request, queryset,
            lambda p, why: services.premium_membership_grant(
                club=p.club, user=p.user, actor=_staff(request), reason=why
            ),
            action="grant", title="Grant open-ended premium", button="Grant",
        )  # fmt: skip

    @admin.action(description="Revoke (staff grants only)…", permissions=["moderate"])
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return _each_with_reason(
            self, request, queryset,
            lambda p, why: services.premium_membership_revoke(premium=p, actor=_staff(request),
                                                              reason=why),
            action="revoke", title="Revoke these premium memberships", button="Revoke",
        )  # fmt: skip


@admin.register(ClubReport)
class ClubReportAdmin(StaffHistoryAdmin, ReadOnlyAdmin):
    list_display = ["club", "reason", "status", "reporter", "created", "reviewed_by"]
    list_filter = ["status", "reason"]
    search_fields = ["club__name", "text"]
    list_select_related = ["club", "reporter", "reviewed_by"]
    actions = ["mark_actioned", "dismiss"]

    def staff_history(self, obj: ClubReport) -> list[StaffAction]:
        return selectors.club_report_staff_history(obj)

    def _review(
        self, request: HttpRequest, queryset: QuerySet, status: str, action: str, title: str,
        button: str,
    ) -> HttpResponse | None:  # fmt: skip
        return _each_with_reason(
            self, request, queryset,
            lambda r, why: services.club_report_review(
                report=r, reviewer=_staff(request), status=status, reason=why
            ),
            action=action, title=title, button=button,
        )  # fmt: skip

    @admin.action(description="Mark actioned…", permissions=["moderate"])
    def mark_actioned(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._review(request, queryset, ClubReport.Status.ACTIONED, "mark_actioned",
                            "Mark these club reports actioned", "Mark actioned")  # fmt: skip

    @admin.action(description="Dismiss…", permissions=["moderate"])
    def dismiss(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._review(request, queryset, ClubReport.Status.DISMISSED, "dismiss",
                            "Dismiss these club reports", "Dismiss")  # fmt: skip


@admin.register(ClubFollow)
class ClubFollowAdmin(ReadOnlyAdmin):
    list_display = ["club", "user", "created"]
    search_fields = ["club__name", "user__username"]
    list_select_related = ["club", "user"]


@admin.register(ClubAuditEntry)
class ClubAuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created", "club", "action", "actor", "target"]
    list_filter = ["action"]
    search_fields = ["club__name", "action"]
    list_select_related = ["club", "actor", "target"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
