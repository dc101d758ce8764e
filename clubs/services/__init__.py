"""Every write about clubs. Services own their transactions and lock what they change; events
leave through `clubs.events` on commit; every decision writes a `ClubAuditEntry`.

Import from here (`clubs.services.premium_membership_sync`); the submodules are the layout.
"""

from clubs.services._common import EDITABLE_FIELDS, RESERVED_SLUGS
from clubs.services.clubs import (
    club_create,
    club_delete,
    club_follow,
    club_report_create,
    club_report_review,
    club_unfollow,
    club_update,
    club_verify,
)
from clubs.services.membership import (
    club_account_deleting,
    club_join,
    club_leave,
    club_member_remove,
    club_member_set_role,
    club_nominate,
    club_nomination_approve,
    club_nomination_reject,
    club_nomination_withdraw,
    club_request_approve,
    club_request_create,
    club_request_reject,
    club_request_withdraw,
)
from clubs.services.premium import (
    premium_membership_grant,
    premium_membership_revoke,
    premium_membership_sync,
    premium_memberships_expire_due,
)

__all__ = [
    "EDITABLE_FIELDS",
    "RESERVED_SLUGS",
    "club_account_deleting",
    "club_create",
    "club_delete",
    "club_follow",
    "club_join",
    "club_leave",
    "club_member_remove",
    "club_member_set_role",
    "club_nominate",
    "club_nomination_approve",
    "club_nomination_reject",
    "club_nomination_withdraw",
    "club_report_create",
    "club_report_review",
    "club_request_approve",
    "club_request_create",
    "club_request_reject",
    "club_request_withdraw",
    "club_unfollow",
    "club_update",
    "club_verify",
    "premium_membership_grant",
    "premium_membership_revoke",
    "premium_membership_sync",
    "premium_memberships_expire_due",
]
