"""factory_boy factories shared by every app's tests.

`UserFactory()` is an active MEMBER with a unique username/e-mail and the password
`PASSWORD` and a confirmed address (`email_verified=False` for one not confirmed yet);
`UserFactory(waitlisted=True)` or `WaitlistedUserFactory()` is someone on the waitlist.
"""

from __future__ import annotations

import functools
import time
from datetime import timedelta

import factory
from allauth.account.models import EmailAddress
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from accounts.models import (
    Block,
    Follow,
    Invitation,
    Notification,
    Report,
    Topic,
    User,
    WaitlistVouch,
)
from accounts.selectors import invitation_token_hash

PASSWORD = "pw-Secret-123"
# The TOTP secret factories give staff (base32); tests compute codes from it.
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def totp_activate(user: User, secret: str = TOTP_SECRET) -> None:
    """TOTP (and recovery codes) for `user`, as allauth's setup page leaves them."""
    TOTP.activate(user, secret)
    RecoveryCodes.activate(user)


def totp_code(secret: str = TOTP_SECRET) -> str:
    """The code an authenticator app shows now."""
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


@functools.lru_cache(maxsize=16)
def _hash(raw: str, hashers: tuple[str, ...]) -> str:
    return make_password(raw)


def _make_password(raw: str) -> str:
    """Hashing is slow on purpose; one hash per password (and hasher setting) per test run
    keeps factories fast while `check_password` still works."""
    return _hash(raw, tuple(settings.PASSWORD_HASHERS))


def verified_email_add(user: User, *, verified: bool = True) -> None:
    """Record `user.email` as their primary address, confirmed or not, as allauth would."""
    EmailAddress.objects.update_or_create(
        user=user, email=user.email, defaults={"primary": True, "verified": verified}
    )


class TopicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Topic
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"topic-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    display_name = factory.LazyAttribute(lambda o: o.username.title())
    status = User.Status.MEMBER
    joined_at = factory.LazyFunction(timezone.now)
    is_active = True
    password = factory.django.Password(PASSWORD, transform=_make_password)

    class Params:
        waitlisted = factory.Trait(status=User.Status.WAITLISTED, joined_at=None)
        staff = factory.Trait(is_staff=True, is_superuser=True)

    @factory.post_generation
    def two_factor(obj: User, create: bool, extracted: bool | None, **kwargs: object) -> None:
        """Staff have TOTP, as the back office requires (accounts.middleware): a staff user
        made here reaches /admin/ like a real one. `two_factor=False` makes one without."""
        if create and obj.is_staff and extracted is not False:
            totp_activate(obj)

    @factory.post_generation
    def email_verified(obj: User, create: bool, extracted: bool | None, **kwargs: object) -> None:
        """The address is confirmed (allauth's EmailAddress) unless `email_verified=False`:
        inviting, letting in, tipping and joining need it (docs/accounts.md)."""
        if create:
            verified_email_add(obj, verified=extracted is not False)


class WaitlistedUserFactory(UserFactory):
    waitlisted = True


class FollowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Follow

    follower = factory.SubFactory(UserFactory)
    followee = factory.SubFactory(UserFactory)


class BlockFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Block

    blocker = factory.SubFactory(UserFactory)
    blocked = factory.SubFactory(UserFactory)


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    recipient = factory.SubFactory(UserFactory)
    kind = Notification.Kind.FOLLOWED
    actor = factory.SubFactory(UserFactory)


class InvitationFactory(factory.django.DjangoModelFactory):
    """An invitation made directly (no quota spent); pass `token=` to know the raw token."""

    class Meta:
        model = Invitation

    class Params:
        token = factory.Sequence(lambda n: f"test-token-{n}")

    inviter = factory.SubFactory(UserFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.com")
    token_hash = factory.LazyAttribute(lambda o: invitation_token_hash(o.token))
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


class WaitlistVouchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WaitlistVouch

    requester = factory.SubFactory(WaitlistedUserFactory)
    member = factory.SubFactory(UserFactory)


class ReportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Report

    reporter = factory.SubFactory(UserFactory)
    reported = factory.SubFactory(UserFactory)
    reason = Report.Reason.SPAM
    text = "Buy my course"
