"""Staff back office for people. Actions call services; nothing here sets a status directly."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path

from accounts import events, selectors, services
from accounts.models import (
    AccountEvent,
    Block,
    FeatureCohortMember,
    FeatureFeedback,
    FeatureFlag,
    Follow,
    Invitation,
    InvitationQuotaAward,
    Notification,
    Report,
    Topic,
    User,
    WaitlistVouch,
)
from accounts.validators import avatar_clean
from clubhouse.audit import StaffAction
from clubhouse.errors import ApplicationError
from clubhouse.staff_admin import (
    ActionsNotEditsAdmin,
    ReasonForm,
    StaffHistoryAdmin,
    action_reason,
)


def _can_ban(request: HttpRequest) -> bool:
    return request.user.has_perm("accounts.ban_user")


class GrantQuotaForm(forms.Form):
    amount = forms.IntegerField(min_value=1, max_value=1000, initial=5)
    reason = forms.CharField(
        max_length=500, strip=True, help_text="Why: kept in the staff audit with your name."
    )


class AvatarCleaningUserChangeForm(UserChangeForm):
    """A picture staff upload is cleaned like a member's own (accounts.validators.avatar_clean:
    re-encoded without EXIF, a random name with its real extension)."""

    def clean_avatar(self) -> Any:
        avatar = self.cleaned_data.get("avatar")
        if isinstance(avatar, UploadedFile):
            try:
                return avatar_clean(avatar)
            except DjangoValidationError as exc:
                raise forms.ValidationError(exc.messages) from exc
        return avatar


class _LoggedAdmin(StaffHistoryAdmin):
    """Tables only superusers edit, through the admin's own forms: their history is its log."""

    def staff_history(self, obj: Any) -> list[StaffAction]:
        return selectors.admin_log_for(obj)


@admin.register(User)
class UserAdmin(StaffHistoryAdmin, BaseUserAdmin):
    form = AvatarCleaningUserChangeForm
    change_form_template = "admin/accounts/user/change_form.html"
    list_display = [
        "username",
        "email",
        "display_name",
        "status",
        "is_active",
        "invitation_quota",
        "invited_by",
        "date_joined",
        "joined_at",
    ]
    list_filter = ["status", "is_staff", "is_active", "date_joined"]
    search_fields = ["username", "email", "display_name"]
    raw_id_fields = ["invited_by"]
    readonly_fields = ["status", "invitation_quota", "joined_at"]
    fieldsets = (
        *BaseUserAdmin.fieldsets,  # type: ignore[misc]
        ("Profile", {"fields": ("display_name", "bio", "avatar", "links", "topics")}),
        ("Membership", {"fields": ("status", "invited_by", "invitation_quota", "joined_at")}),
    )
    actions = ["let_in_from_waitlist", "grant_invitations", "ban_users"]

    def has_ban_permission(self, request: HttpRequest) -> bool:
        return _can_ban(request)

    def staff_history(self, obj: User) -> list[StaffAction]:
        return [*selectors.user_staff_history(obj), *selectors.admin_log_for(obj)]

    def get_urls(self) -> list[Any]:
        ban = path(
            "<int:pk>/ban/", self.admin_site.admin_view(self.ban_view), name="accounts_user_ban"
        )
        return [ban, *super().get_urls()]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        person = self.get_object(request, object_id)
        can_ban = (
            person is not None
            and person.is_active
            and not person.is_staff
            and self.has_ban_permission(request)
        )
        context = {**(extra_context or {}), "can_ban": can_ban}
        return super().change_view(request, object_id, form_url, context)

    def ban_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Ban one person from their page, with the reason (recorded on their history)."""
        if not self.has_ban_permission(request):
            raise PermissionDenied
        person = get_object_or_404(User, pk=pk)
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            staff: Any = request.user
            try:
                services.user_ban(user=person, staff=staff, reason=form.cleaned_data["reason"])
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, f"Banned {person}.", messages.SUCCESS)
                return redirect("admin:accounts_user_change", person.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": person,
            "title": f"Ban {person}",
            "form": form,
        }
        return TemplateResponse(request, "admin/accounts/user/ban.html", context)

    # Deleting a person never deletes the row: money records point at it (PROTECT). The admin's
    # delete (the object page and the bulk action) runs `account_delete` instead: anonymise,
    # remove the social data, keep the money. A refusal (money still owed to them) is shown.
    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[Any], dict[str, int], set[str], list[Any]]:
        people = list(objs)
        summary = [
            f"{user} (anonymised: name, e-mail, profile, follows, clubs and room history "
            "removed; payments kept without their name)"
            for user in people
        ]
        return summary, {"users": len(people)}, set(), []

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        _delete(self, request, [obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        _delete(self, request, list(queryset))

    @admin.action(
        description="Let in from the waitlist (no invitation spent)…", permissions=["change"]
    )
    def let_in_from_waitlist(
        self, request: HttpRequest, queryset: QuerySet[User]
    ) -> HttpResponse | None:
        reason = action_reason(self, request, queryset, action="let_in_from_waitlist",
                               title="Let these people in from the waitlist",
                               button="Let in")  # fmt: skip
        if isinstance(reason, TemplateResponse):
            return reason
        joined = services.waitlist_let_in_by_staff(staff=request.user, users=queryset,  # type: ignore[arg-type]
                                                   reason=reason)  # fmt: skip
        self.message_user(request, f"Let in {joined} people.", messages.SUCCESS)
        return None

    @admin.action(description="Grant invitations…", permissions=["change"])
    def grant_invitations(
        self, request: HttpRequest, queryset: QuerySet[User]
    ) -> HttpResponse | None:
        if "apply" in request.POST:
            form = GrantQuotaForm(request.POST)
            if form.is_valid():
                amount = form.cleaned_data["amount"]
                for user in queryset:
                    services.invitation_quota_grant(
                        user=user,
                        amount=amount,
                        staff=request.user,  # type: ignore[arg-type]
                        reason=form.cleaned_data["reason"],
                    )
                self.message_user(
                    request,
                    f"Granted {amount} invitation(s) to {queryset.count()} people.",
                    messages.SUCCESS,
                )
                return None
        else:
            form = GrantQuotaForm()
        context = {
            **self.admin_site.each_context(request),
            "title": "Grant invitations",
            "form": form,
            "queryset": queryset,
            "action": "grant_invitations",
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "accounts/admin/grant_quota.html", context)

    @admin.action(
        description="Ban (disable the account, resolve open reports)…", permissions=["ban"]
    )
    def ban_users(self, request: HttpRequest, queryset: QuerySet[User]) -> HttpResponse | None:
        reason = action_reason(self, request, queryset, action="ban_users",
                               title="Ban these people", button="Ban")  # fmt: skip
        if isinstance(reason, TemplateResponse):
            return reason
        _ban(self, request, list(queryset), reason)
        return None


def _delete(model_admin: admin.ModelAdmin[Any], request: HttpRequest, users: list[User]) -> None:
    for user in users:
        try:
            services.account_delete(user=user, actor=request.user, reason="staff")  # type: ignore[arg-type]
        except ApplicationError as exc:
            model_admin.message_user(
                request, f"{user} was not deleted: {exc.message}", messages.ERROR
            )


def _ban(
    model_admin: admin.ModelAdmin[Any], request: HttpRequest, users: list[User], reason: str
) -> None:
    banned = 0
    for user in users:
        try:
            services.user_ban(user=user, staff=request.user, reason=reason)  # type: ignore[arg-type]
            banned += 1
        except ApplicationError as exc:
            model_admin.message_user(request, f"{user}: {exc.message}", messages.WARNING)
    model_admin.message_user(request, f"Banned {banned} people.", messages.SUCCESS)


@admin.register(Report)
class ReportAdmin(ActionsNotEditsAdmin, StaffHistoryAdmin):
    list_display = ["id", "reported", "reporter", "reason", "status", "created", "resolved_by"]
    list_filter = ["status", "reason", "created"]
    search_fields = ["reported__username", "reporter__username", "text"]
    raw_id_fields = ["reporter", "reported", "resolved_by"]
    readonly_fields = ["status", "resolved_by", "resolved_at", "created"]
    actions = ["resolve", "ban_reported"]

    def has_ban_permission(self, request: HttpRequest) -> bool:
        return _can_ban(request)

    def staff_history(self, obj: Report) -> list[StaffAction]:
        return [*selectors.report_staff_history(obj), *selectors.admin_log_for(obj)]

    @admin.action(description="Resolve (no action against the user)…", permissions=["change"])
    def resolve(self, request: HttpRequest, queryset: QuerySet[Report]) -> HttpResponse | None:
        reason = action_reason(self, request, queryset, action="resolve",
                               title="Resolve these reports (no action against the people "
                               "reported)", button="Resolve")  # fmt: skip
        if isinstance(reason, TemplateResponse):
            return reason
        for report in queryset:
            services.report_resolve(report=report, staff=request.user, resolution=reason)  # type: ignore[arg-type]
        self.message_user(request, f"Resolved {queryset.count()} reports.", messages.SUCCESS)
        return None

    @admin.action(
        description="Ban the reported people (resolves their open reports)…", permissions=["ban"]
    )
    def ban_reported(self, request: HttpRequest, queryset: QuerySet[Report]) -> HttpResponse | None:
        reason = action_reason(self, request, queryset, action="ban_reported",
                               title="Ban the people these reports are about", button="Ban")  # fmt: skip
        if isinstance(reason, TemplateResponse):
            return reason
        users = list({report.reported for report in queryset.select_related("reported")})
        _ban(self, request, users, reason)
        return None


@admin.register(Invitation)
class InvitationAdmin(StaffHistoryAdmin):
    list_display = ["id", "inviter", "email", "phone", "status", "created", "expires_at"]
    list_filter = ["status", "created", "expires_at"]
    search_fields = ["inviter__username", "email", "phone", "accepted_by__username"]
    raw_id_fields = ["inviter", "accepted_by"]
    readonly_fields = ["status", "accepted_by", "accepted_at", "revoked_at", "created"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # invitations are made by members (a token is shown only once)

    def staff_history(self, obj: Invitation) -> list[StaffAction]:
        return selectors.admin_log_for(obj)

    @admin.action(description="Revoke (refunds the inviter's quota)", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        for invitation in queryset:
            try:
                services.invitation_revoke(invitation=invitation, by=request.user)  # type: ignore[arg-type]
            except ApplicationError as exc:
                self.message_user(request, f"#{invitation.pk}: {exc.message}", messages.WARNING)
            else:
                # The invitation keeps no "revoked by": the admin's log says who (its history,
                # the staff audit list).
                self.log_change(request, invitation, "Revoked (the inviter's quota refunded)")


@admin.register(InvitationQuotaAward)
class InvitationQuotaAwardAdmin(admin.ModelAdmin):
    list_display = ["user", "amount", "reason_key", "granted_by", "created"]
    list_filter = ["created"]
    search_fields = ["user__username", "reason_key"]
    raw_id_fields = ["user", "granted_by"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # an append-only ledger: grant more with the user action instead

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(WaitlistVouch)
class WaitlistVouchAdmin(_LoggedAdmin):
    list_display = ["requester", "member", "created"]
    list_filter = ["created"]
    search_fields = ["requester__username", "member__username"]
    raw_id_fields = ["requester", "member"]


@admin.register(Notification)
class NotificationAdmin(_LoggedAdmin):
    list_display = ["recipient", "kind", "actor", "created", "read_at"]
    list_filter = ["kind", "created"]
    search_fields = ["recipient__username", "actor__username"]
    raw_id_fields = ["recipient", "actor"]


class TopicInUseFilter(admin.SimpleListFilter):
    title = "in use"
    parameter_name = "in_use"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Chosen by someone"), ("no", "Unused")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Topic]) -> QuerySet[Topic]:
        if self.value() == "yes":
            return queryset.filter(users__isnull=False).distinct()
        if self.value() == "no":
            return queryset.filter(users__isnull=True)
        return queryset


@admin.register(Topic)
class TopicAdmin(StaffHistoryAdmin):
    list_display = ["name", "slug"]
    list_filter = [TopicInUseFilter]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def staff_history(self, obj: Topic) -> list[StaffAction]:
        return selectors.admin_log_for(obj)


@admin.register(Follow)
class FollowAdmin(_LoggedAdmin):
    list_display = ["follower", "followee", "created"]
    list_filter = ["created"]
    search_fields = ["follower__username", "followee__username"]
    raw_id_fields = ["follower", "followee"]


@admin.register(Block)
class BlockAdmin(_LoggedAdmin):
    list_display = ["blocker", "blocked", "created"]
    list_filter = ["created"]
    search_fields = ["blocker__username", "blocked__username"]
    raw_id_fields = ["blocker", "blocked"]


@admin.register(AccountEvent)
class AccountEventAdmin(admin.ModelAdmin):
    """The audit trail: read-only."""

    list_display = ["created", "user", "kind", "actor"]
    list_filter = ["kind", "created"]
    search_fields = ["user__username", "actor__username"]
    raw_id_fields = ["user", "actor"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- feature flags, beta cohorts, feedback -----------------------------------------------------


class CohortAddForm(forms.Form):
    """One of three ways to fill a cohort; each goes through its service (the cap holds)."""

    usernames = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One username or e-mail address per line.",
    )
    csv_file = forms.FileField(
        required=False,
        label="CSV file",
        help_text="Usernames or e-mail addresses in the first column (a header line is skipped).",
    )
    rule = forms.ChoiceField(required=False, choices=())
    on = forms.DateField(
        required=False,
        label="Date",
        help_text="For a rule that needs one (members who joined before this date).",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rules = [(name, rule.label) for name, rule in events.FEATURE_COHORT_RULES.items()]
        self.fields["rule"].choices = [("", "—"), *rules]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        given = [bool(data.get("usernames", "").strip()), bool(data.get("csv_file")),
                 bool(data.get("rule"))]  # fmt: skip
        if sum(given) != 1:
            raise forms.ValidationError("Give usernames, a CSV file, or a rule (one of them).")
        return data


class FeatureCohortMemberInline(admin.TabularInline):
    """Who is in: added through "Add people" (services, under the cap); removable here."""

    model = FeatureCohortMember
    extra = 0
    fields = ["user", "source", "note", "added_by", "created"]
    readonly_fields = ["user", "source", "note", "added_by", "created"]
    can_delete = True
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(FeatureFlag)
class FeatureFlagAdmin(StaffHistoryAdmin):
    list_display = ["key", "name", "enabled", "everyone", "cohort_size", "cohort_cap", "updated"]
    list_editable = ["enabled", "everyone"]
    fields = ["key", "name", "enabled", "everyone", "cohort_cap"]
    inlines = [FeatureCohortMemberInline]
    change_form_template = "accounts/admin/featureflag_change_form.html"

    @admin.display(description="cohort")
    def cohort_size(self, obj: FeatureFlag) -> int:
        return selectors.feature_cohort_size(obj)

    def staff_history(self, obj: FeatureFlag) -> list[StaffAction]:
        # The switches and removals from the cohort are the admin's own log; additions are
        # the cohort rows (who added whom, how).
        return [*selectors.feature_flag_staff_history(obj), *selectors.admin_log_for(obj)]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["key"] if obj is not None else []  # the code asks for the key

    def get_urls(self) -> list[Any]:
        add_people = path(
            "<int:pk>/cohort/add/",
            self.admin_site.admin_view(self.cohort_add_view),
            name="accounts_featureflag_cohort_add",
        )
        return [add_people, *super().get_urls()]

    def cohort_add_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        flag = get_object_or_404(FeatureFlag, pk=pk)
        if not self.has_change_permission(request, flag):
            raise PermissionDenied
        posted = request.method == "POST"
        form = CohortAddForm(request.POST if posted else None, request.FILES if posted else None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            actor: Any = request.user
            try:
                if data["usernames"].strip():
                    result = services.feature_cohort_add_csv(
                        flag=flag, content=data["usernames"].encode(), filename="typed",
                        actor=actor,
                    )  # fmt: skip
                elif data["csv_file"]:
                    upload = data["csv_file"]
                    result = services.feature_cohort_add_csv(
                        flag=flag, content=upload.read(), filename=upload.name, actor=actor
                    )
                else:
                    result = services.feature_cohort_add_by_rule(
                        flag=flag, rule=data["rule"], on=data.get("on"), actor=actor
                    )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                level = messages.WARNING if result.over_cap or result.unknown else messages.SUCCESS
                self.message_user(request, f"{flag}: {result.summary()}.", level)
                return redirect("admin:accounts_featureflag_change", flag.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": flag,
            "title": f"Add people to the {flag} cohort",
            "form": form,
            "cohort_size": selectors.feature_cohort_size(flag),
        }
        return TemplateResponse(request, "accounts/admin/featureflag_cohort_add.html", context)


class FeedbackReplyForm(forms.Form):
    channel = forms.ChoiceField(choices=FeatureFeedback.Channel.choices, widget=forms.RadioSelect)
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}))


@admin.register(FeatureFeedback)
class FeatureFeedbackAdmin(StaffHistoryAdmin):
    """Triage: new → read → answered. Answers go by e-mail or notification (services)."""

    list_display = ["created", "flag", "user", "rating", "short_text", "step", "status"]
    list_filter = ["status", "flag", "rating", "created"]
    search_fields = ["user__username", "text"]
    readonly_fields = ["flag", "user", "rating", "text", "context", "status", "reply",
                       "reply_channel", "replied_by", "replied_at", "read_by", "created"]  # fmt: skip
    actions = ["mark_read"]
    change_list_template = "accounts/admin/featurefeedback_change_list.html"
    change_form_template = "accounts/admin/featurefeedback_change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # feedback comes from the feature

    def staff_history(self, obj: FeatureFeedback) -> list[StaffAction]:
        return [*selectors.feature_feedback_staff_history(obj), *selectors.admin_log_for(obj)]

    @admin.display(description="text")
    def short_text(self, obj: FeatureFeedback) -> str:
        return obj.text[:80]

    @admin.display(description="step")
    def step(self, obj: FeatureFeedback) -> str:
        return str((obj.context or {}).get("step") or "")

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        weekly = selectors.feature_feedback_weekly_counts()
        return super().changelist_view(request, {**(extra_context or {}), "weekly": weekly})

    @admin.action(description="Mark as read", permissions=["change"])
    def mark_read(self, request: HttpRequest, queryset: QuerySet[FeatureFeedback]) -> None:
        for feedback in queryset:
            services.feature_feedback_mark_read(feedback=feedback, actor=request.user)  # type: ignore[arg-type]
        self.message_user(request, f"{queryset.count()} marked as read.", messages.SUCCESS)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        """Opening feedback marks it read and shows the reply form, for those who triage it
        (the change permission); Support only reads it."""
        feedback = get_object_or_404(FeatureFeedback, pk=object_id)
        triage = self.has_change_permission(request, feedback)
        if triage:
            services.feature_feedback_mark_read(feedback=feedback, actor=request.user)  # type: ignore[arg-type]
        context = {**(extra_context or {}), "reply_form": FeedbackReplyForm() if triage else None}
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self) -> list[Any]:
        reply = path(
            "<int:pk>/reply/",
            self.admin_site.admin_view(self.reply_view),
            name="accounts_featurefeedback_reply",
        )
        return [reply, *super().get_urls()]

    def reply_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        feedback = get_object_or_404(FeatureFeedback, pk=pk)
        if request.method != "POST" or not self.has_change_permission(request, feedback):
            raise PermissionDenied
        form = FeedbackReplyForm(request.POST)
        if form.is_valid():
            try:
                services.feature_feedback_reply(
                    feedback=feedback,
                    actor=request.user,  # type: ignore[arg-type]
                    message=form.cleaned_data["message"],
                    channel=form.cleaned_data["channel"],
                )
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                how = dict(FeatureFeedback.Channel.choices)[form.cleaned_data["channel"]]
                self.message_user(request, f"Answer sent to {feedback.user} by {how.lower()}.",
                                  messages.SUCCESS)  # fmt: skip
        else:
            self.message_user(request, "Choose how to answer and write the answer.",
                              messages.ERROR)  # fmt: skip
        return redirect("admin:accounts_featurefeedback_change", feedback.pk)
