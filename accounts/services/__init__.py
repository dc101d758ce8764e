"""Every write about people. Services own their transactions; side effects leave on commit.

A package by topic; everything is re-exported here, so `from accounts import services` and
`accounts.services.notification_create` keep working for other apps.
"""

from accounts.services.deletion import account_delete, account_delete_by_self
from accounts.services.flags import (
    CohortAddResult,
    feature_cohort_add,
    feature_cohort_add_by_rule,
    feature_cohort_add_csv,
    feature_feedback_create,
    feature_feedback_mark_read,
    feature_feedback_reply,
    feature_flag_ensure,
)
from accounts.services.graph import (
    report_create,
    report_resolve,
    user_ban,
    user_block,
    user_follow,
    user_follow_seed,
    user_unblock,
    user_unfollow,
)
from accounts.services.invitations import (
    InvitationExpired,
    InvitationInvalid,
    InvitationRevoked,
    InvitationUsed,
    invitation_accept,
    invitation_check,
    invitation_create,
    invitation_revoke,
)
from accounts.services.notifications import (
    EMAIL_SETTINGS,
    NotificationKind,
    email_unsubscribe,
    notification_create,
    notification_mark_all_read,
    notification_mark_read,
    notification_settings_update,
    notifications_create_many,
    notifications_to_followers_create,
    push_subscription_delete,
    push_subscription_save,
)
from accounts.services.profiles import PROFILE_FIELDS, user_profile_update
from accounts.services.quota import (
    NoInvitationsLeft,
    invitation_quota_award,
    invitation_quota_grant,
    invitation_quota_spend,
)
from accounts.services.waitlist import (
    waitlist_let_in,
    waitlist_let_in_by_staff,
    waitlist_let_in_named,
    waitlist_vouch_request,
)
from clubhouse.errors import (
    ApplicationError,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)

__all__ = [
    "EMAIL_SETTINGS",
    "PROFILE_FIELDS",
    "ApplicationError",
    "CohortAddResult",
    "Conflict",
    "InvalidInput",
    "InvitationExpired",
    "InvitationInvalid",
    "InvitationRevoked",
    "InvitationUsed",
    "NoInvitationsLeft",
    "NotFound",
    "NotificationKind",
    "PermissionDenied",
    "account_delete",
    "account_delete_by_self",
    "email_unsubscribe",
    "feature_cohort_add",
    "feature_cohort_add_by_rule",
    "feature_cohort_add_csv",
    "feature_feedback_create",
    "feature_feedback_mark_read",
    "feature_feedback_reply",
    "feature_flag_ensure",
    "invitation_accept",
    "invitation_check",
    "invitation_create",
    "invitation_quota_award",
    "invitation_quota_grant",
    "invitation_quota_spend",
    "invitation_revoke",
    "notification_create",
    "notification_mark_all_read",
    "notification_mark_read",
    "notification_settings_update",
    "notifications_create_many",
    "notifications_to_followers_create",
    "push_subscription_delete",
    "push_subscription_save",
    "report_create",
    "report_resolve",
    "user_ban",
    "user_block",
    "user_follow",
    "user_follow_seed",
    "user_profile_update",
    "user_unblock",
    "user_unfollow",
    "waitlist_let_in",
    "waitlist_let_in_by_staff",
    "waitlist_let_in_named",
    "waitlist_vouch_request",
]
