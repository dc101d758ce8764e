"""List endpoints run a fixed number of queries whatever the page size."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from tests.factories import (
    FollowFactory,
    InvitationFactory,
    UserFactory,
    WaitlistVouchFactory,
)

pytestmark = pytest.mark.django_db


def _followers(me: User) -> None:
    FollowFactory(followee=me)


def _following(me: User) -> None:
    FollowFactory(follower=me)


def _mutual(me: User) -> None:
    other = UserFactory()
    FollowFactory(follower=me, followee=other)
    FollowFactory(follower=other, followee=me)


def _invitation(me: User) -> None:
    InvitationFactory(inviter=me)


def _vouch(me: User) -> None:
    WaitlistVouchFactory(member=me)


@pytest.mark.parametrize(
    ("url", "add"),
    [
        ("/api/v1/users/{me}/followers/", _followers),
        ("/api/v1/users/{me}/following/", _following),
        ("/api/v1/me/mutuals/", _mutual),
        ("/api/v1/invitations/", _invitation),
        ("/api/v1/waitlist/vouches/", _vouch),
    ],
)
def test_list_query_count_is_constant(as_user, url: str, add: Callable[[User], None]) -> None:
    me = UserFactory()
    client = as_user(me)
    path = url.format(me=me.username)
    add(me)
    with CaptureQueriesContext(connection) as one:
        first = client.get(path)
    for _ in range(5):
        add(me)
    with CaptureQueriesContext(connection) as six:
        second = client.get(path)
    assert first.json()["count"] == 1
    assert second.json()["count"] == 6
    assert len(six) == len(one)
