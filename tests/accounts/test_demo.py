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


def test_the_demo_staff_account_has_totp_and_the_printed_secret_gets_into_the_admin(
    client,  # type: ignore[no-untyped-def]
    settings,  # type: ignore[no-untyped-def]
) -> None:
    import re

    from tests.factories import totp_code

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    first = "\n".join(demo.load())
    output = "\n".join(demo.load())  # a second run prints a new password, the same secret
    password = re.search(r"Staff superuser: admin@example.com / (\S+)", output)[1]  # type: ignore[index]
    secret = re.search(r"TOTP secret ([A-Z2-7]+) ", output)[1]  # type: ignore[index]
    codes = re.search(r"unused recovery codes: ([\d ]+)", output)[1].split()  # type: ignore[index]
    assert len(codes) == 10
    assert secret in first

    login = client.post(
        "/accounts/login/?next=/admin/", {"login": "admin@example.com", "password": password}
    )
    assert login["Location"].startswith("/accounts/2fa/authenticate/")
    assert client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})["Location"] == (
        "/admin/"
    )
    assert client.get("/admin/").status_code == 200


def test_the_demo_has_one_staff_member_per_role_with_two_factor_and_a_report_to_look_at(
    client,  # type: ignore[no-untyped-def]
) -> None:
    from accounts.models import Report
    from accounts.roles import ROLES
    from accounts.selectors import user_two_factor_enabled

    output = "\n".join(demo.load())
    list(demo.load())  # idempotent: nobody in a group twice, no second report
    for username, _name, role in demo.DEMO_STAFF:
        member = User.objects.get(username=username)
        assert member.is_staff
        assert not member.is_superuser
        assert [g.name for g in member.groups.all()] == [role]
        assert user_two_factor_enabled(member)
        assert f"{username}@example.com ({role})" in output
    assert {role for _, _, role in demo.DEMO_STAFF} == set(ROLES)
    assert Report.objects.filter(status=Report.Status.OPEN).count() == 1
    client.force_login(User.objects.get(username="support"))
    assert client.get("/admin/accounts/user/").status_code == 200
    assert client.get("/admin/accounts/report/").status_code == 403
