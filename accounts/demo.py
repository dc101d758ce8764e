"""Demo people for `make run`: a staff superuser, one staff member per role (accounts.roles),
a dozen members who follow each other, a few
pending invitations, and one person on the waitlist who named a member they know.

Idempotent: a second run creates nothing new (invitations and the waitlist request are
looked up before they are made)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from urllib.parse import quote

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from allauth.mfa.utils import decrypt
from django.conf import settings
from django.utils import timezone

from accounts import roles, services
from accounts.models import Follow, Invitation, Report, Topic, User

DEMO_PASSWORD = "clubhouse-demo"  # noqa: S105 - printed on purpose, demo accounts only

DEMO_PEOPLE = [
    ("ada", "Ada Lovelace"), ("grace", "Grace Hopper"), ("alan", "Alan Turing"),
    ("katherine", "Katherine Johnson"), ("linus", "Linus Pauling"), ("marie", "Marie Curie"),
    ("nina", "Nina Simone"), ("miles", "Miles Davis"), ("frida", "Frida Kahlo"),
    ("octavia", "Octavia Butler"), ("james", "James Baldwin"), ("hedy", "Hedy Lamarr"),
]  # fmt: skip

# (inviter, invitee e-mail): pending invitations, made through the service (spends quota).
DEMO_INVITATIONS = [
    ("ada", "charles@example.com"),
    ("ada", "mary@example.com"),
    ("grace", "margaret@example.com"),
    ("alan", "joan@example.com"),
]
DEMO_WAITLISTED = ("wanda", "Wanda Sykes", "ada")  # username, name, the member they know

# One staff member per role, so each role's back office can be tried (docs/staff.md).
DEMO_STAFF = [
    ("curator", "Cora Curator", roles.CREATOR_CURATORS),
    ("finance", "Finn Finance", roles.FINANCE),
    ("safety", "Sam Safety", roles.TRUST_AND_SAFETY),
    ("support", "Sue Support", roles.SUPPORT),
]

TOPICS = [
    ("tech", "Tech"),
    ("music", "Music"),
    ("books", "Books"),
    ("science", "Science"),
    ("art", "Art"),
]


def _staff_two_factor(admin: User, secret: str | None = None) -> tuple[str, list[str]]:
    """Staff need TOTP for the back office (accounts.middleware), so the demo staff account has
    it from the start: made once, then the same secret every run (printed, demo only). The
    role accounts share the superuser's secret: one authenticator entry opens all of them."""
    EmailAddress.objects.update_or_create(
        user=admin, email=admin.email, defaults={"primary": True, "verified": True}
    )
    totp = Authenticator.objects.filter(user=admin, type=Authenticator.Type.TOTP).first()
    if totp is None:
        totp = TOTP.activate(admin, secret or generate_totp_secret()).instance
    codes = RecoveryCodes.activate(admin)
    return decrypt(totp.data["secret"]), codes.get_unused_codes()


def _otpauth_uri(admin: User, secret: str) -> str:
    return f"otpauth://totp/Clubhouse:{quote(admin.email)}?secret={secret}&issuer=Clubhouse"


def load() -> Iterator[str]:
    topics = [
        Topic.objects.get_or_create(slug=slug, defaults={"name": name})[0] for slug, name in TOPICS
    ]
    admin_password = secrets.token_urlsafe(12)
    admin, _ = User.objects.get_or_create(
        username="admin",
        defaults={"email": "admin@example.com", "is_staff": True, "is_superuser": True},
    )
    admin.is_staff = admin.is_superuser = True
    admin.status = User.Status.MEMBER
    admin.set_password(admin_password)
    admin.save()
    totp_secret, recovery_codes = _staff_two_factor(admin)
    _email_confirmed(admin)
    roles.roles_sync()  # the migration made the groups; this keeps the demo whole without it
    for username, name, role in DEMO_STAFF:
        member, _ = User.objects.get_or_create(
            username=username,
            defaults={"email": f"{username}@example.com", "display_name": name,
                      "status": User.Status.MEMBER, "joined_at": timezone.now()},
        )  # fmt: skip
        member.set_password(admin_password)
        member.save()
        roles.role_grant(user=member, role=role)
        _staff_two_factor(member, secret=totp_secret)
    people: list[User] = []
    for index, (username, name) in enumerate(DEMO_PEOPLE):
        person, created = User.objects.get_or_create(
            username=username,
            defaults={
                "email": f"{username}@example.com",
                "display_name": name,
                "status": User.Status.MEMBER,
                "joined_at": timezone.now(),
                "invited_by": people[index - 1] if index else admin,
            },
        )
        if created:
            person.set_password(DEMO_PASSWORD)
            person.save()
            person.topics.set(topics[index % len(topics) : index % len(topics) + 2])
        _email_confirmed(person)
        people.append(person)
    for index, person in enumerate(people):
        for other in (people[(index + 1) % len(people)], people[(index + 3) % len(people)]):
            Follow.objects.get_or_create(follower=person, followee=other)
    by_username = {person.username: person for person in people}
    for inviter_name, email in DEMO_INVITATIONS:
        inviter = by_username[inviter_name]
        if Invitation.objects.filter(inviter=inviter, email=email).exists():
            continue
        _, token = services.invitation_create(inviter=inviter, email=email)
        yield f"Invitation from {inviter_name} to {email}: {settings.SITE_URL}/invite/{token}/"
    # An open report for Trust & safety to look at (made once, whatever its fate since).
    if not Report.objects.filter(
        reporter=by_username["grace"], reported=by_username["miles"]
    ).exists():
        services.report_create(reporter=by_username["grace"], reported=by_username["miles"],
                               reason=Report.Reason.SPAM, text="Demo: links in every room.")  # fmt: skip
    username, name, knows = DEMO_WAITLISTED
    waiting, created = User.objects.get_or_create(
        username=username,
        defaults={
            "email": f"{username}@example.com",
            "display_name": name,
            "status": User.Status.WAITLISTED,
        },
    )
    if created:
        waiting.set_password(DEMO_PASSWORD)
        waiting.save()
    _email_confirmed(waiting)
    if waiting.status == User.Status.WAITLISTED:
        services.waitlist_vouch_request(requester=waiting, member=by_username[knows])
    yield f"Staff superuser: admin@example.com / {admin_password}   (http://127.0.0.1:8000/admin/)"
    yield (
        f"Staff two-factor (required for /admin/): TOTP secret {totp_secret} "
        f"(add it to an authenticator app: {_otpauth_uri(admin, totp_secret)}); "
        f"unused recovery codes: {' '.join(recovery_codes)}"
    )
    yield (
        "Staff by role (same password and TOTP as the superuser; docs/staff.md): "
        + ", ".join(f"{username}@example.com ({role})" for username, _, role in DEMO_STAFF)
    )
    yield (
        f"Demo members: ada@example.com … hedy@example.com, password {DEMO_PASSWORD}; "
        "log in as any of them and open the first room in the hallway to listen"
    )
    yield (
        f"On the waitlist: {username}@example.com (password {DEMO_PASSWORD}), who named "
        f"@{knows}; log in as {knows} and open /waitlist/ to let them in"
    )


def _email_confirmed(user: User) -> None:
    """Demo addresses are confirmed (nobody reads example.com mail); inviting, letting in,
    tipping and joining need a confirmed address."""
    EmailAddress.objects.update_or_create(
        user=user, email=user.email, defaults={"primary": True, "verified": True}
    )
