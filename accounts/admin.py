from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import Block, Follow, Topic, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = [
        "username",
        "email",
        "display_name",
        "status",
        "invitation_quota",
        "invited_by",
        "date_joined",
    ]
    list_filter = ["status", "is_staff", "is_active"]
    search_fields = ["username", "email", "display_name"]
    raw_id_fields = ["invited_by"]
    fieldsets = (
        *BaseUserAdmin.fieldsets,  # type: ignore[misc]
        ("Profile", {"fields": ("display_name", "bio", "avatar", "links", "topics")}),
        ("Membership", {"fields": ("status", "invited_by", "invitation_quota", "joined_at")}),
    )


admin.site.register(Topic, list_display=["name", "slug"], search_fields=["name", "slug"])
admin.site.register(
    Follow, list_display=["follower", "followee", "created"], raw_id_fields=["follower", "followee"]
)
admin.site.register(
    Block, list_display=["blocker", "blocked", "created"], raw_id_fields=["blocker", "blocked"]
)
