"""Every way in, and every ban, leaves one audit entry written with the change."""

from __future__ import annotations

import pytest

from accounts import services
from accounts.models import AccountEvent
from tests.factories import InvitationFactory, UserFactory, WaitlistedUserFactory

pytestmark = pytest.mark.django_db


def test_joining_by_invitation_is_audited_once() -> None:
    invitation = InvitationFactory(token="tok-audit")
    person = WaitlistedUserFactory()
    services.invitation_accept(token="tok-audit", user=person)
    event = AccountEvent.objects.get(user=person)
    assert event.kind == AccountEvent.Kind.JOINED_BY_INVITATION
    assert event.actor == invitation.inviter
    assert event.data == {"invitation_id": invitation.pk}


def test_let_in_by_a_member_is_audited_and_a_repeat_adds_nothing() -> None:
    member, person = UserFactory(), WaitlistedUserFactory()
    services.waitlist_let_in(member=member, target=person)
    services.waitlist_let_in(member=member, target=person)
    assert list(AccountEvent.objects.values_list("kind", "actor")) == [
        (AccountEvent.Kind.LET_IN_BY_MEMBER, member.pk)
    ]


def test_staff_let_in_and_ban_are_audited() -> None:
    staff, person = UserFactory(staff=True), WaitlistedUserFactory()
    services.waitlist_let_in_by_staff(staff=staff, users=[person])
    services.user_ban(user=person, staff=staff, reason="spam ring")
    services.user_ban(user=person, staff=staff)
    kinds = list(AccountEvent.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == [AccountEvent.Kind.LET_IN_BY_STAFF, AccountEvent.Kind.BANNED]
    assert AccountEvent.objects.get(kind="banned").data == {"reason": "spam ring"}


def test_a_failed_let_in_leaves_no_audit_entry() -> None:
    person = WaitlistedUserFactory()
    with pytest.raises(services.NoInvitationsLeft):
        services.waitlist_let_in(member=UserFactory(invitation_quota=0), target=person)
    assert not AccountEvent.objects.exists()
