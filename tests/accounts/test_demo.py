import pytest

from accounts import demo
from accounts.models import Follow, Invitation, Notification, User, WaitlistVouch

pytestmark = pytest.mark.django_db


def _counts() -> tuple[int, ...]:
    return (
        User.objects.count(),
        Follow.objects.count(),
        Invitation.objects.count(),
        WaitlistVouch.objects.count(),
        Notification.objects.count(),
    )


def test_demo_data_has_invitations_and_a_waitlisted_person_and_is_idempotent() -> None:
    lines = list(demo.load())
    assert any("/invite/" in line for line in lines)
    first = _counts()
    assert Invitation.objects.filter(status=Invitation.Status.PENDING).count() == 4
    wanda = User.objects.get(username="wanda")
    assert wanda.status == User.Status.WAITLISTED
    assert WaitlistVouch.objects.get(requester=wanda).member.username == "ada"
    ada = User.objects.get(username="ada")
    assert ada.invitation_quota == 3
    list(demo.load())
    assert _counts() == first
    ada.refresh_from_db()
    assert ada.invitation_quota == 3
