"""The topic list and people-to-follow suggestions (the web client's onboarding uses both)."""

from __future__ import annotations

import pytest

from tests.factories import (
    BlockFactory,
    FollowFactory,
    TopicFactory,
    UserFactory,
    WaitlistedUserFactory,
)

pytestmark = pytest.mark.django_db


def test_topics_lists_every_topic_by_name(as_user) -> None:
    TopicFactory(slug="jazz", name="Jazz")
    TopicFactory(slug="art", name="Art")
    body = as_user(UserFactory()).get("/api/v1/topics/").json()
    assert [(t["slug"], t["name"]) for t in body] == [("art", "Art"), ("jazz", "Jazz")]


def test_topics_need_a_login(api_client) -> None:
    response = api_client.get("/api/v1/topics/")
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] == "not_authenticated"


def test_suggestions_put_the_nominator_first_then_friends_of_friends_then_shared_topics(
    as_user,
) -> None:
    jazz = TopicFactory(slug="jazz")
    nominator = UserFactory(username="nominator")
    me = UserFactory(username="me", invited_by=nominator)
    me.topics.add(jazz)
    friend = UserFactory(username="friend")
    FollowFactory(follower=me, followee=friend)
    friend_of_friend = UserFactory(username="fof")
    FollowFactory(follower=friend, followee=friend_of_friend)
    jazz_fan = UserFactory(username="jazzfan")
    jazz_fan.topics.add(jazz)
    UserFactory(username="stranger")

    body = as_user(me).get("/api/v1/me/suggestions/").json()

    names = [person["username"] for person in body]
    assert names[:4] == ["nominator", "fof", "jazzfan", "stranger"]
    assert body[0]["nominated_me"] is True
    assert body[1]["friends_follow"] == 1
    assert body[2]["shared_topics"] == 1


def test_suggestions_leave_out_me_people_i_follow_blocked_and_waitlisted(as_user) -> None:
    me = UserFactory()
    followed = UserFactory()
    FollowFactory(follower=me, followee=followed)
    blocked_me = UserFactory()
    BlockFactory(blocker=blocked_me, blocked=me)
    WaitlistedUserFactory()
    keeper = UserFactory()

    body = as_user(me).get("/api/v1/me/suggestions/").json()

    assert [person["username"] for person in body] == [keeper.username]


def test_suggestions_honour_the_limit(as_user) -> None:
    me = UserFactory()
    UserFactory.create_batch(5)
    assert len(as_user(me).get("/api/v1/me/suggestions/?limit=2").json()) == 2


def test_suggestions_are_for_members_only(as_user) -> None:
    response = as_user(WaitlistedUserFactory()).get("/api/v1/me/suggestions/")
    assert response.status_code == 403
