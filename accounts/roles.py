"""Staff roles: Django groups, each with only the permissions its work needs (least privilege).

The table is the single definition: the data migrations that create and re-sync the groups
(accounts/migrations/0008_staff_roles.py, 0011_staff_roles_betas.py) and the tests read it. A
change to a role is a change here plus a new migration that calls `roles_sync` again (it sets
each group's permissions to exactly what the table says). Every permission named here must
exist in the state of 0008 too (it reads this table when a database is built from scratch). Superusers are in no group: they have everything.

Every admin action and custom admin view checks one of these permissions, never `is_staff`
alone, so a person's role decides what they see and can do (docs/staff.md).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps

CREATOR_CURATORS = "Creator curators"
FINANCE = "Finance"
TRUST_AND_SAFETY = "Trust & safety"
SUPPORT = "Support"

# Everyone on staff reads the merged audit list: "who did this to me, and why" is a support
# question as much as a finance one.
_AUDIT = ["accounts.view_staff_audit"]

ROLES: dict[str, list[str]] = {
    CREATOR_CURATORS: [
        *_AUDIT,
        "accounts.view_user",  # the applicant's profile
        "payouts.view_creatorapplication",
        "payouts.add_creatorapplication",  # nominate someone who never applied
        "payouts.change_creatorapplication",  # approve, reject, the review note
        "payouts.view_creatorprogram",
        "payouts.change_creatorprogram",  # terms, pause, end
        "rooms.view_room",  # the rooms they hosted (the figures)
        "clubs.view_club",  # the clubs they lead
        # The Send Money beta: its switches and cap, who is in the cohort (added through the
        # flag's "Add people"; removing someone is a superuser's, as no role deletes), and the
        # testers' feedback to triage and answer.
        "accounts.view_featureflag",
        "accounts.change_featureflag",
        "accounts.view_featurecohortmember",
        "accounts.view_featurefeedback",
        "accounts.change_featurefeedback",  # mark read, answer
    ],
    FINANCE: [
        *_AUDIT,
        "accounts.view_user",
        "payouts.view_creatorprogram",
        "payouts.view_stipendrun",
        "payouts.view_stipendpayment",
        "payouts.retry_stipend",
        "payouts.view_chargerefund",
        "payouts.refund_charge",
        "payouts.view_tip",
        "payouts.view_ticket",
        "payouts.view_ticketprice",
        "payouts.view_membershipinvoice",
        "payouts.view_clubsubscription",
        "payouts.change_clubsubscription",  # cancel at period end, refresh from Stripe
        "payouts.view_clubplan",
        "payouts.view_discrepancy",
        "payouts.post_correction",
        "payouts.view_journal",
        "payouts.view_ledgeraccount",
        "payouts.book_topup",
        "payouts.view_connectedaccount",
        "payouts.view_connectedpayout",
        "payouts.view_handledevent",
        "payouts.view_auditentry",
    ],
    TRUST_AND_SAFETY: [
        *_AUDIT,
        "accounts.view_user",
        "accounts.ban_user",
        "accounts.view_report",
        "accounts.change_report",  # resolve
        "accounts.view_block",
        "accounts.view_follow",
        "accounts.view_accountevent",
        "rooms.view_room",
        "rooms.change_room",  # end a live room
        "rooms.view_roomparticipant",
        "rooms.view_roomeventlog",
        "rooms.view_roomremoval",
        "rooms.view_scheduledevent",
        "rooms.view_roomreport",
        "rooms.change_roomreport",  # actioned, dismissed, end the reported rooms
        "clubs.view_club",
        "clubs.change_club",  # the verification badge
        "clubs.view_clubreport",
        "clubs.change_clubreport",  # actioned, dismissed
        "clubs.view_clubmembership",
        "clubs.change_clubmembership",  # remove someone, change a role
        "clubs.view_clubnomination",
        "clubs.change_clubnomination",  # decide for a club whose admins are gone
        "clubs.view_clubmembershiprequest",
        "clubs.change_clubmembershiprequest",
        "clubs.view_clubauditentry",
    ],
    SUPPORT: [
        *_AUDIT,
        "accounts.view_user",
        "accounts.view_accountevent",  # "why can't I log in?": banned, by whom
        "rooms.view_room",
        "rooms.view_roomparticipant",
        "rooms.view_scheduledevent",
        "clubs.view_club",
        "clubs.view_clubmembership",
        "payouts.view_ticket",
        "accounts.view_featurefeedback",  # what beta testers said (answering is the curators')
    ],
}

# Nobody in a role sees the relay workers' live figures (media_relay.view_relayworker):
# operations are the on-call engineers', who are superusers (docs/staff.md, "Operations").


def roles_sync(apps: Any = global_apps, *, existing_only: bool = False) -> None:
    """Create each role's group and give it exactly the table's permissions (idempotent).
    `apps` is the migration's historical registry, or the live one (tests, the demo).
    Every permission named must exist: a typo fails loudly instead of granting less. An early
    migration (0008) passes `existing_only`: the table is today's, and permissions of models
    added after it come with the later migration that syncs the roles again (0011 on)."""
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for name, perms in ROLES.items():
        group, _ = group_model.objects.get_or_create(name=name)
        wanted = []
        for dotted in perms:
            app_label, codename = dotted.split(".", 1)
            found = permission_model.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if found is None and not existing_only:
                raise permission_model.DoesNotExist(f"no permission {dotted} (accounts.roles)")
            if found is not None:
                wanted.append(found)
        group.permissions.set(wanted)


def role_grant(*, user: Any, role: str) -> None:
    """Make `user` staff in `role` (the group must exist: `roles_sync` or the migration)."""
    group_model = global_apps.get_model("auth", "Group")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.groups.add(group_model.objects.get(name=role))
