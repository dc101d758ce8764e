"""Follow / block rules, follower lists, mutuals, reports, and the activity award rule."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import conf, services
from accounts.models import Block, Follow, InvitationQuotaAward, Notification, Report, User
from accounts.selectors import (
    topic_list,
    user_blocked_by_any,
    user_blocked_ids,
    user_blocker_ids,
    user_followed_by_any,
    user_followee_ids,
    user_follower_ids,
    user_follows,
    user_hidden_ids,
    user_is_blocked_between,
    user_is_blocked_with_any,
    users_follower_ids,
)
from tests.factories import BlockFactory, FollowFactory, TopicFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_follow_notifies_once_and_is_idempotent() -> None:
    a, b = UserFactory(), UserFactory()
    first = services.user_follow(follower=a, followee=b)
    second = services.user_follow(follower=a, followee=b)
    assert first.pk == second.pk
    assert user_follows(a, b)
    assert not user_follows(b, a)
    notes = Notification.objects.filter(recipient=b, kind=Notification.Kind.FOLLOWED)
    assert notes.count() == 1
    assert notes.get().actor == a


def test_unfollow_is_idempotent() -> None:
    follow = FollowFactory()
    services.user_unfollow(follower=follow.follower, followee=follow.followee)
    services.user_unfollow(follower=follow.follower, followee=follow.followee)
    assert not Follow.objects.exists()


def test_you_cannot_follow_yourself() -> None:
    a = UserFactory()
    with pytest.raises(services.InvalidInput) as exc:
        services.user_follow(follower=a, followee=a)
    assert exc.value.code == "cannot_follow_self"


@pytest.mark.parametrize("direction", ["i_blocked", "they_blocked"])
def test_follow_is_refused_when_a_block_exists_either_way(direction: str) -> None:
    a, b = UserFactory(), UserFactory()
    if direction == "i_blocked":
        BlockFactory(blocker=a, blocked=b)
    else:
        BlockFactory(blocker=b, blocked=a)
    with pytest.raises(services.PermissionDenied) as exc:
        services.user_follow(follower=a, followee=b)
    assert exc.value.code == "blocked"
    assert not Follow.objects.exists()


def test_blocking_removes_follows_both_ways_and_is_idempotent() -> None:
    a, b = UserFactory(), UserFactory()
    FollowFactory(follower=a, followee=b)
    FollowFactory(follower=b, followee=a)
    services.user_block(blocker=a, blocked=b)
    services.user_block(blocker=a, blocked=b)
    assert not Follow.objects.exists()
    assert Block.objects.count() == 1
    assert user_is_blocked_between(a, b)
    assert user_is_blocked_between(b, a)
    assert set(user_hidden_ids(a)) == {b.pk}
    assert set(user_hidden_ids(b)) == {a.pk}


def test_unblock_lifts_the_block() -> None:
    block = BlockFactory()
    services.user_unblock(blocker=block.blocker, blocked=block.blocked)
    assert not Block.objects.exists()
    services.user_follow(follower=block.blocker, followee=block.blocked)


def test_you_cannot_block_yourself() -> None:
    a = UserFactory()
    with pytest.raises(services.InvalidInput):
        services.user_block(blocker=a, blocked=a)


# --- API ----------------------------------------------------------------------------------------
def test_api_follow_and_unfollow_return_the_relationship(as_user) -> None:
    a, b = UserFactory(), UserFactory()
    FollowFactory(follower=b, followee=a)
    client = as_user(a)
    followed = client.post(f"/api/v1/users/{b.username}/follow/")
    assert followed.status_code == 200
    assert followed.json() == {"follows": True, "followed_by": True, "mutual": True}
    unfollowed = client.delete(f"/api/v1/users/{b.username}/follow/")
    assert unfollowed.json() == {"follows": False, "followed_by": True, "mutual": False}


def test_api_follow_self_is_400(as_user) -> None:
    a = UserFactory()
    response = as_user(a).post(f"/api/v1/users/{a.username}/follow/")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "cannot_follow_self"


@pytest.mark.parametrize("path", ["", "follow/", "followers/", "following/"])
def test_blocked_people_are_hidden_both_ways_as_404(as_user, path: str) -> None:
    a, b = UserFactory(), UserFactory()
    BlockFactory(blocker=a, blocked=b)
    for viewer, other in [(a, b), (b, a)]:
        method = "get" if path in {"", "followers/", "following/"} else "post"
        response = getattr(as_user(viewer), method)(
            f"/api/v1/users/{other.username}/{path}", {"reason": "spam"}, format="json"
        )
        assert response.status_code == 404, (viewer, path)
        assert response.json()["error"]["code"] == "user_not_found"


def test_api_block_then_unblock(as_user) -> None:
    a, b = UserFactory(), UserFactory()
    FollowFactory(follower=a, followee=b)
    client = as_user(a)
    assert client.post(f"/api/v1/users/{b.username}/block/").status_code == 204
    assert not Follow.objects.exists()
    assert client.delete(f"/api/v1/users/{b.username}/block/").status_code == 204
    assert client.get(f"/api/v1/users/{b.username}/").status_code == 200


def test_follower_lists_are_paginated_and_hide_blocked_people(as_user) -> None:
    star, viewer = UserFactory(), UserFactory()
    fans = [UserFactory() for _ in range(4)]
    for fan in fans:
        FollowFactory(follower=fan, followee=star)
    BlockFactory(blocker=fans[0], blocked=viewer)
    client = as_user(viewer)
    page = client.get(f"/api/v1/users/{star.username}/followers/?limit=2").json()
    assert page["count"] == 3
    assert len(page["results"]) == 2
    assert page["next"]
    names = {
        u["username"]
        for u in client.get(f"/api/v1/users/{star.username}/followers/").json()["results"]
    }
    assert names == {fan.username for fan in fans[1:]}


def test_following_list_and_mutuals(as_user) -> None:
    me, mutual, one_way = UserFactory(), UserFactory(), UserFactory()
    FollowFactory(follower=me, followee=mutual)
    FollowFactory(follower=mutual, followee=me)
    FollowFactory(follower=me, followee=one_way)
    client = as_user(me)
    following = client.get(f"/api/v1/users/{me.username}/following/").json()
    assert {u["username"] for u in following["results"]} == {mutual.username, one_way.username}
    mutuals = client.get("/api/v1/me/mutuals/").json()
    assert [u["username"] for u in mutuals["results"]] == [mutual.username]


def test_follower_list_query_count_does_not_grow_with_the_page(as_user) -> None:
    star, viewer = UserFactory(), UserFactory()
    for _ in range(3):
        FollowFactory(followee=star)
    client = as_user(viewer)
    url = f"/api/v1/users/{star.username}/followers/"
    with CaptureQueriesContext(connection) as small:
        client.get(url)
    for _ in range(10):
        FollowFactory(followee=star)
    with CaptureQueriesContext(connection) as big:
        client.get(url)
    assert len(big) == len(small)


# --- reports ------------------------------------------------------------------------------------
def test_api_report_a_user(as_user) -> None:
    a, b = UserFactory(), UserFactory()
    response = as_user(a).post(
        f"/api/v1/users/{b.username}/report/",
        {"reason": "harassment", "text": "  rude in a room  "},
        format="json",
    )
    assert response.status_code == 201
    report = Report.objects.get()
    assert (report.reporter, report.reported, report.reason) == (a, b, "harassment")
    assert report.text == "rude in a room"
    assert report.status == Report.Status.OPEN


def test_you_can_report_someone_after_blocking_them(as_user) -> None:
    a, b = UserFactory(), UserFactory()
    BlockFactory(blocker=a, blocked=b)
    response = as_user(a).post(
        f"/api/v1/users/{b.username}/report/", {"reason": "harassment"}, format="json"
    )
    assert response.status_code == 201
    assert Report.objects.get().reported == b


def test_following_someone_on_the_waitlist_is_refused() -> None:
    with pytest.raises(services.NotFound):
        services.user_follow(follower=UserFactory(), followee=UserFactory(waitlisted=True))


def test_report_with_an_unknown_reason_is_a_field_error(as_user) -> None:
    b = UserFactory()
    response = as_user(UserFactory()).post(
        f"/api/v1/users/{b.username}/report/", {"reason": "vibes"}, format="json"
    )
    assert response.status_code == 400
    assert "reason" in response.json()["error"]["fields"]


def test_resolve_and_ban() -> None:
    staff = UserFactory(staff=True)
    report = Report.objects.create(
        reporter=UserFactory(), reported=UserFactory(), reason="spam", text=""
    )
    other = Report.objects.create(
        reporter=UserFactory(), reported=report.reported, reason="hate", text=""
    )
    services.report_resolve(report=report, staff=staff, resolution="warned")
    report.refresh_from_db()
    assert report.status == Report.Status.RESOLVED
    assert report.resolved_by == staff
    services.user_ban(user=report.reported, staff=staff)
    other.refresh_from_db()
    report.reported.refresh_from_db()
    assert report.reported.is_active is False
    assert other.status == Report.Status.RESOLVED


def test_staff_cannot_be_banned() -> None:
    with pytest.raises(services.Conflict):
        services.user_ban(user=UserFactory(staff=True), staff=UserFactory(staff=True))


# --- the activity rule --------------------------------------------------------------------------
def test_inviter_earns_one_invitation_once_their_invitee_follows_three_people() -> None:
    inviter = UserFactory(invitation_quota=0)
    invitee = UserFactory(invited_by=inviter)
    others = [UserFactory() for _ in range(4)]
    services.user_follow(follower=invitee, followee=others[0])
    services.user_follow(follower=invitee, followee=others[1])
    inviter.refresh_from_db()
    assert inviter.invitation_quota == 0
    services.user_follow(follower=invitee, followee=others[2])
    services.user_follow(follower=invitee, followee=others[3])
    services.user_unfollow(follower=invitee, followee=others[3])
    services.user_follow(follower=invitee, followee=others[3])
    inviter.refresh_from_db()
    assert inviter.invitation_quota == 1
    assert InvitationQuotaAward.objects.get(user=inviter).reason_key == (
        f"invitee_active:{invitee.pk}"
    )


def test_quota_award_is_idempotent_per_reason_key() -> None:
    user = UserFactory(invitation_quota=0)
    assert services.invitation_quota_award(user=user, reason_key="club_founded:1", amount=2)
    assert not services.invitation_quota_award(user=user, reason_key="club_founded:1", amount=2)
    assert services.invitation_quota_award(user=user, reason_key="club_founded:2", amount=1)
    user.refresh_from_db()
    assert user.invitation_quota == 3


def test_staff_grants_add_up_and_are_recorded() -> None:
    staff, user = UserFactory(staff=True), UserFactory(invitation_quota=1)
    services.invitation_quota_grant(user=user, amount=5, staff=staff)
    services.invitation_quota_grant(user=user, amount=5, staff=staff)
    user.refresh_from_db()
    assert user.invitation_quota == 11
    assert InvitationQuotaAward.objects.filter(user=user, granted_by=staff).count() == 2


def test_hidden_ids_and_visible_q_filter_user_queries() -> None:
    from accounts.selectors import user_visible_q

    viewer, blocked, blocker, friend = (UserFactory() for _ in range(4))
    BlockFactory(blocker=viewer, blocked=blocked)
    BlockFactory(blocker=blocker, blocked=viewer)
    others = User.objects.exclude(pk=viewer.pk)
    assert set(others.exclude(pk__in=user_hidden_ids(viewer))) == {friend}
    assert set(others.filter(user_visible_q(viewer))) == {friend}


def test_the_graph_seam_gives_id_subqueries_another_app_filters_by_in_one_query() -> None:
    me, followed, follower, i_blocked, blocked_me, stranger = (UserFactory() for _ in range(6))
    FollowFactory(follower=me, followee=followed)
    FollowFactory(follower=follower, followee=me)
    BlockFactory(blocker=me, blocked=i_blocked)
    BlockFactory(blocker=blocked_me, blocked=me)
    seam = {
        "followee_ids": (user_followee_ids(follower=me), {followed}),
        "follower_ids": (user_follower_ids(followee=me), {follower}),
        "blocked_ids": (user_blocked_ids(blocker=me), {i_blocked}),
        "blocker_ids": (user_blocker_ids(blocked=me), {blocked_me}),
        "followers_of_any": (users_follower_ids(followee_ids=[me.pk, stranger.pk]), {follower}),
    }
    for name, (ids, people) in seam.items():
        with CaptureQueriesContext(connection) as queries:
            found = set(User.objects.filter(pk__in=ids))
        assert found == people, name
        assert len(queries) == 1, name  # a subquery, not a second round trip


def test_the_graph_seam_answers_whether_any_of_a_group_follows_or_blocks_someone() -> None:
    me, speaker, moderator, admin, stranger = (UserFactory() for _ in range(5))
    FollowFactory(follower=speaker, followee=me)
    BlockFactory(blocker=moderator, blocked=me)
    BlockFactory(blocker=me, blocked=admin)
    assert user_followed_by_any(me, follower_ids=[stranger.pk, speaker.pk])
    assert not user_followed_by_any(me, follower_ids=[stranger.pk, moderator.pk])
    assert user_blocked_by_any(me, blocker_ids=User.objects.filter(pk=moderator.pk).values("pk"))
    assert not user_blocked_by_any(me, blocker_ids=[admin.pk, stranger.pk])  # I blocked admin
    assert user_is_blocked_with_any(me, other_ids=[stranger.pk, admin.pk])  # either way
    assert user_is_blocked_with_any(me, other_ids=[moderator.pk])
    assert not user_is_blocked_with_any(me, other_ids=[speaker.pk, stranger.pk])


def test_demo_data_follows_without_notifying_or_rewarding_anyone() -> None:
    inviter = UserFactory()
    a = UserFactory(invited_by=inviter)
    others = [UserFactory() for _ in range(conf.invitation_activity_follows())]
    first = [services.user_follow_seed(follower=a, followee=other) for other in others]
    again = services.user_follow_seed(follower=a, followee=others[0])
    assert again.pk == first[0].pk
    assert Follow.objects.filter(follower=a).count() == len(others)
    assert not Notification.objects.exists()
    assert (
        not InvitationQuotaAward.objects.exists()
    )  # enough follows to earn, had a person made them


def test_topics_by_id_or_slug_leave_out_unknown_ones() -> None:
    music, art = TopicFactory(slug="music"), TopicFactory(slug="art")
    assert set(topic_list(ids=[music.pk, 10**9])) == {music}
    assert set(topic_list(slugs=["art", "nope"])) == {art}
    assert set(topic_list(slugs=[])) == set()
    assert {music, art} <= set(topic_list())


def test_other_apps_name_notification_kinds_through_the_services_seam() -> None:
    recipient = UserFactory()
    note = services.notification_create(recipient=recipient, kind=services.NotificationKind.MONEY)
    assert note.kind == Notification.Kind.MONEY
    assert set(services.NotificationKind.values) == set(Notification.Kind.values)
