"""Letting in and inviting never tell a member whether an e-mail address (or a name) belongs to
a member: the same status and body shape whoever it belongs to, no profile data, blocks honoured
in silence, and every try counted against a daily limit per member in the cache (Redis when
configured), answered 429 `rate_limited` with Retry-After once used up."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Invitation, Notification, User
from tests.factories import BlockFactory, UserFactory, WaitlistedUserFactory

pytestmark = pytest.mark.django_db

LET_IN = "/api/v1/waitlist/let-in/"
INVITE = "/api/v1/invitations/"


def _nobody(asker: User) -> dict[str, str]:
    return {"email": "nobody-at-all@example.com", "username": "nobody-at-all"}


def _member(asker: User) -> User:
    return UserFactory()


def _yourself(asker: User) -> User:
    return asker


def _disabled(asker: User) -> User:
    return WaitlistedUserFactory(is_active=False)


def _disabled_member(asker: User) -> User:
    return UserFactory(is_active=False)


def _member_who_blocked_you(asker: User) -> User:
    member = UserFactory()
    BlockFactory(blocker=member, blocked=asker)
    return member


def _member_you_blocked(asker: User) -> User:
    member = UserFactory()
    BlockFactory(blocker=asker, blocked=member)
    return member


def _waiting_who_blocked_you(asker: User) -> User:
    person = WaitlistedUserFactory()
    BlockFactory(blocker=person, blocked=asker)
    return person


def _waiting_you_blocked(asker: User) -> User:
    person = WaitlistedUserFactory()
    BlockFactory(blocker=asker, blocked=person)
    return person


NOT_LET_IN: list[Callable[[User], Any]] = [
    _nobody,
    _member,
    _yourself,
    _disabled,
    _disabled_member,
    _member_who_blocked_you,
    _member_you_blocked,
    _waiting_who_blocked_you,
    _waiting_you_blocked,
]


def _named(target: Any, by: str) -> str:
    return target[by] if isinstance(target, dict) else getattr(target, by)


# --- letting in: one answer for everyone who is not let in ---------------------------------------
@pytest.mark.parametrize("by", ["email", "username"])
@pytest.mark.parametrize("who", NOT_LET_IN, ids=lambda f: f.__name__.strip("_"))
def test_let_in_answers_the_same_for_everyone_who_is_not_waiting(
    as_user: Callable[[User], APIClient], by: str, who: Callable[[User], Any]
) -> None:
    asker = UserFactory(invitation_quota=2)
    target = who(asker)
    before = target.status if isinstance(target, User) else None
    response = as_user(asker).post(LET_IN, {by: _named(target, by)}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"let_in": False, "invitation_quota": 2}
    asker.refresh_from_db()
    assert asker.invitation_quota == 2
    if isinstance(target, User):
        target.refresh_from_db()
        assert target.status == before
        assert not Notification.objects.filter(recipient=target).exists()


@pytest.mark.parametrize("by", ["email", "username"])
def test_letting_someone_in_answers_without_their_profile(
    as_user: Callable[[User], APIClient], by: str
) -> None:
    asker = UserFactory(invitation_quota=2)
    person = WaitlistedUserFactory(display_name="Quiet Person")
    response = as_user(asker).post(LET_IN, {by: _named(person, by).upper()}, format="json")
    assert response.status_code == 200
    assert response.json() == {"let_in": True, "invitation_quota": 1}
    person.refresh_from_db()
    assert person.status == User.Status.MEMBER
    assert person.invited_by == asker


@pytest.mark.parametrize("who", [_nobody, _member, _waiting_who_blocked_you, None])
def test_without_invitations_left_let_in_is_409_whoever_is_named(
    as_user: Callable[[User], APIClient], who: Callable[[User], Any] | None
) -> None:
    asker = UserFactory(invitation_quota=0)
    target = who(asker) if who else WaitlistedUserFactory()
    response = as_user(asker).post(LET_IN, {"email": _named(target, "email")}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_invitations_left"


def _page_message(client: Client, value: str) -> str:
    response = client.post("/waitlist/let-in/", {"username_or_email": value}, follow=True)
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert len(messages) == 1
    return messages[0].replace(value, "<named>")


def test_the_page_says_the_same_for_a_members_address_and_an_unknown_one(client: Client) -> None:
    asker = UserFactory(invitation_quota=2)
    member = UserFactory(username="secret-member")
    blocker = _member_who_blocked_you(asker)
    client.force_login(asker)
    answers = {
        _page_message(client, member.email),
        _page_message(client, "nobody-at-all@example.com"),
        _page_message(client, blocker.email),
        _page_message(client, asker.email),
    }
    assert len(answers) == 1, answers
    (answer,) = answers
    assert "secret-member" not in answer
    assert member.username not in answer
    page = client.get("/waitlist/").content.decode()
    assert "secret-member" not in page


def test_the_page_still_lets_someone_in_by_e_mail(client: Client) -> None:
    asker = UserFactory(invitation_quota=1)
    person = WaitlistedUserFactory()
    client.force_login(asker)
    answer = _page_message(client, person.email)
    assert "is in" in answer
    assert person.username not in answer
    person.refresh_from_db()
    assert person.status == User.Status.MEMBER


# --- inviting: one answer whether the address is a member's or not -----------------------------------
def _invite(api: APIClient, email: str) -> Any:
    return api.post(INVITE, {"email": email}, format="json")


@pytest.mark.parametrize(
    "who",
    [_member, _yourself, _disabled_member, _member_who_blocked_you, _member_you_blocked],
    ids=lambda f: f.__name__.strip("_"),
)
def test_inviting_any_address_answers_the_same_and_mails_only_who_can_use_it(
    as_user: Callable[[User], APIClient],
    django_capture_on_commit_callbacks: Any,
    who: Callable[[User], User],
) -> None:
    asker = UserFactory(invitation_quota=3)
    api = as_user(asker)
    with django_capture_on_commit_callbacks(execute=True):
        stranger = _invite(api, "stranger@example.com")
    assert [m.to for m in mail.outbox] == [["stranger@example.com"]]
    target = who(asker)
    with django_capture_on_commit_callbacks(execute=True):
        known = _invite(api, target.email)
    assert (known.status_code, stranger.status_code) == (201, 201), known.content
    assert set(known.json()) == set(stranger.json())
    assert known.json()["status"] == "pending"
    assert known.json()["accepted_by"] is None
    assert target.display_name not in known.content.decode()  # no profile data
    assert len(mail.outbox) == 1  # nobody who cannot use the link, or is hidden by a block
    asker.refresh_from_db()
    assert asker.invitation_quota == 1  # both spent one, as any invitation does
    listed = api.get(INVITE).json()["results"]
    assert {row["status"] for row in listed} == {"pending"}


def test_a_waitlisted_persons_address_still_gets_the_invitation(
    as_user: Callable[[User], APIClient], django_capture_on_commit_callbacks: Any
) -> None:
    person = WaitlistedUserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = _invite(as_user(UserFactory()), person.email)
    assert response.status_code == 201
    assert [m.to for m in mail.outbox] == [[person.email]]


# --- the daily limit -----------------------------------------------------------------------------
@pytest.fixture(params=["locmem", "redis"])
def shared_cache(request: pytest.FixtureRequest, settings: Any) -> str:
    """The limit's store: the local cache (embedded) or Redis (every web process shares it)."""
    if request.param == "redis":
        redis_url = request.getfixturevalue("redis_url")
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis_url,
                "KEY_PREFIX": f"t-{uuid.uuid4().hex}",
            }
        }
    return str(request.param)


def _assert_rate_limited(response: Any) -> None:
    assert response.status_code == 429, response.content
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["message"]
    assert error["fields"] == {}
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= 24 * 3600
    assert error["retry_after"] == retry_after


def test_let_in_tries_are_limited_per_member_per_day(
    as_user: Callable[[User], APIClient], settings: Any, shared_cache: str, client: Client
) -> None:
    settings.WAITLIST_LET_IN_DAILY_LIMIT = 3
    asker = UserFactory(invitation_quota=5)
    person = WaitlistedUserFactory()
    client.force_login(asker)
    client.post("/waitlist/let-in/", {"username_or_email": "a@example.com"})  # the page counts
    api = as_user(asker)
    for email in ("b@example.com", "c@example.com"):
        assert api.post(LET_IN, {"email": email}, format="json").status_code == 200
    _assert_rate_limited(api.post(LET_IN, {"email": person.email}, format="json"))
    person.refresh_from_db()
    assert person.status == User.Status.WAITLISTED  # refused before anything else
    page = client.post("/waitlist/let-in/", {"username_or_email": person.email}, follow=True)
    assert "try again" in " ".join(str(m) for m in page.context["messages"]).lower()
    other = as_user(UserFactory(invitation_quota=1))  # someone else's count is their own
    assert other.post(LET_IN, {"email": person.email}, format="json").json()["let_in"] is True


def test_invitations_are_limited_per_member_per_day(
    as_user: Callable[[User], APIClient], settings: Any, shared_cache: str
) -> None:
    settings.INVITATION_DAILY_LIMIT = 2
    asker = UserFactory(invitation_quota=5)
    api = as_user(asker)
    for n in range(2):
        assert _invite(api, f"friend{n}@example.com").status_code == 201
    _assert_rate_limited(_invite(api, "friend2@example.com"))
    assert Invitation.objects.filter(inviter=asker).count() == 2
    asker.refresh_from_db()
    assert asker.invitation_quota == 3
