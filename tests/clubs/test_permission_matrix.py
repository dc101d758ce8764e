"""The permission matrix: every club action by every relation to the club, in ONE table.

Columns: admin, leader, member, follower, stranger, blocked (blocked by a club admin), and,
through the API only, waitlisted (logged in, not let in yet) and anonymous. A cell is "ok" or
the error code the action answers with; "—" marks the seams rooms call after their own
platform checks (no API, so no waitlisted/anonymous cell).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from clubs import selectors
from clubs.models import Club, ClubMembership, ClubMembershipRequest, ClubNomination
from tests.clubs.conftest import World
from tests.clubs.factories import MembershipFactory, PremiumFactory, UserFactory

pytestmark = pytest.mark.django_db

ROLES = ("admin", "leader", "member", "follower", "stranger", "blocked", "waitlisted", "anonymous")

OK = "ok"
NA = "—"
W = "waitlisted"
ANON = "not_authenticated"
ADMIN = "club_admin_required"
LEADER = "club_leader_required"
MEMBER = "club_member_required"
BLOCKED = "club_blocked"
ALREADY = "club_already_member"
BY_REQUEST = "club_join_by_request"
PRIVATE = "club_members_private"
NOT_YOURS = "club_nomination_not_yours"
LAST_ADMIN = "club_last_admin"
MEMBERS_ONLY = "club_members_only"
PREMIUM = "club_premium_required"
NO = "no"  # a seam answering False / "not in the set"

# fmt: off
MATRIX: dict[str, tuple[str, ...]] = {
    # action                    admin       leader   member   follower     stranger     blocked  waitlisted anonymous
    "view":                    (OK,         OK,      OK,      OK,          OK,          OK,      W, ANON),
    "list_clubs":              (OK,         OK,      OK,      OK,          OK,          OK,      W, ANON),
    "my_clubs":                (OK,         OK,      OK,      OK,          OK,          OK,      W, ANON),
    "update":                  (OK,         ADMIN,   ADMIN,   ADMIN,       ADMIN,       ADMIN,   W, ANON),
    "delete":                  (OK,         ADMIN,   ADMIN,   ADMIN,       ADMIN,       ADMIN,   W, ANON),
    "follow":                  (OK,         OK,      OK,      OK,          OK,          BLOCKED, W, ANON),
    "unfollow":                (OK,         OK,      OK,      OK,          OK,          OK,      W, ANON),
    "join_open_club":          (OK,         OK,      OK,      OK,          OK,          BLOCKED, W, ANON),
    "join_request_club":       (OK,         OK,      OK,      BY_REQUEST,  BY_REQUEST,  BLOCKED, W, ANON),
    "request":                 (ALREADY,    ALREADY, ALREADY, OK,          OK,          BLOCKED, W, ANON),
    "list_requests":           (OK,         OK,      LEADER,  LEADER,      LEADER,      LEADER,  W, ANON),
    "approve_request":         (OK,         OK,      LEADER,  LEADER,      LEADER,      LEADER,  W, ANON),
    "reject_request":          (OK,         OK,      LEADER,  LEADER,      LEADER,      LEADER,  W, ANON),
    "nominate":                (OK,         OK,      OK,      MEMBER,      MEMBER,      MEMBER,  W, ANON),
    "list_nominations":        (OK,         OK,      OK,      MEMBER,      MEMBER,      MEMBER,  W, ANON),
    "approve_nomination":      (OK,         ADMIN,   ADMIN,   ADMIN,       ADMIN,       ADMIN,   W, ANON),
    "reject_nomination":       (OK,         ADMIN,   ADMIN,   ADMIN,       ADMIN,       ADMIN,   W, ANON),
    "withdraw_nomination":     (NOT_YOURS,  NOT_YOURS, OK,    NOT_YOURS,   NOT_YOURS,   NOT_YOURS, W, ANON),
    "members_public_list":     (OK,         OK,      OK,      OK,          OK,          OK,      W, ANON),
    "members_private_list":    (OK,         OK,      OK,      PRIVATE,     PRIVATE,     PRIVATE, W, ANON),
    "set_role":                (OK,         ADMIN,   ADMIN,   ADMIN,       ADMIN,       ADMIN,   W, ANON),
    "remove_member":           (OK,         OK,      LEADER,  LEADER,      LEADER,      LEADER,  W, ANON),
    "remove_leader":           (OK,         ADMIN,   LEADER,  LEADER,      LEADER,      LEADER,  W, ANON),
    "leave":                   (LAST_ADMIN, OK,      OK,      OK,          OK,          OK,      W, ANON),
    "premium_status":          (OK,         OK,      OK,      OK,          OK,          OK,      W, ANON),
    "report":                  (OK,         OK,      OK,      OK,          OK,          OK,      W, ANON),
    # the seams rooms call (clubs.selectors)
    "start_room":              (OK,         OK,      NO,      NO,          NO,          NO,      NA, NA),
    "schedule_event":          (OK,         OK,      NO,      NO,          NO,          NO,      NA, NA),
    "enter_public_room":       (OK,         OK,      OK,      OK,          OK,          BLOCKED, NA, NA),
    "enter_members_only_room": (OK,         OK,      OK,      MEMBERS_ONLY, MEMBERS_ONLY, BLOCKED, NA, NA),
    "enter_exclusive_room":    (OK,         OK,      PREMIUM, MEMBERS_ONLY, MEMBERS_ONLY, BLOCKED, NA, NA),
    "enter_exclusive_room_with_premium":
                               (OK,         OK,      OK,      MEMBERS_ONLY, MEMBERS_ONLY, BLOCKED, NA, NA),
    "hallway_club_ids":        (OK,         OK,      OK,      OK,          NO,          NO,      NA, NA),
}
# fmt: on

STATUS = {
    ADMIN: 403, LEADER: 403, MEMBER: 403, BLOCKED: 403, PRIVATE: 403, NOT_YOURS: 403, W: 403,
    ANON: 401, ALREADY: 409, BY_REQUEST: 409, LAST_ADMIN: 409,
}  # fmt: skip


# --- how each action is performed ---------------------------------------------------------

Outcome = tuple[int | None, str]


def _api(response: Any) -> Outcome:
    if response.status_code < 300:
        return response.status_code, OK
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message", "fields"} <= set(body["error"])
    return response.status_code, body["error"]["code"]


def _seam(value: bool | str | None) -> Outcome:
    if value is True or value is None:
        return None, OK
    return None, NO if value is False else str(value)


def _url(w: World, rest: str = "") -> str:
    return f"/api/v1/clubs/{w.club.slug}/{rest}"


def _set(w: World, **fields: Any) -> None:
    Club.objects.filter(pk=w.club.pk).update(**fields)
    w.club.refresh_from_db()


def _request(w: World) -> ClubMembershipRequest:
    return ClubMembershipRequest.objects.create(club=w.club, user=UserFactory())


def _nomination(w: World) -> ClubNomination:
    return ClubNomination.objects.create(club=w.club, nominee=UserFactory(), nominated_by=w.member)


def _room(w: World, user: User | None, *, members_only: bool) -> Outcome:
    return _seam(selectors.club_room_access(user=user, club=w.club, members_only=members_only))


def _exclusive_with_premium(c: APIClient, w: World, u: User | None) -> Outcome:
    _set(w, is_exclusive=True)
    if u is not None:
        PremiumFactory(club=w.club, user=u)
    return _room(w, u, members_only=True)


Action = Callable[[APIClient, World, User | None], Outcome]

ACTIONS: dict[str, Action] = {
    "view": lambda c, w, u: _api(c.get(_url(w))),
    "list_clubs": lambda c, w, u: _api(c.get("/api/v1/clubs/")),
    "my_clubs": lambda c, w, u: _api(c.get("/api/v1/clubs/mine/")),
    "update": lambda c, w, u: _api(c.patch(_url(w), {"description": "New"}, format="json")),
    "delete": lambda c, w, u: _api(c.delete(_url(w))),
    "follow": lambda c, w, u: _api(c.post(_url(w, "follow/"))),
    "unfollow": lambda c, w, u: _api(c.delete(_url(w, "follow/"))),
    "join_open_club": lambda c, w, u: (
        _set(w, join_policy=Club.JoinPolicy.OPEN),
        _api(c.post(_url(w, "join/"))),
    )[1],
    "join_request_club": lambda c, w, u: (
        _set(w, join_policy=Club.JoinPolicy.REQUEST),
        _api(c.post(_url(w, "join/"))),
    )[1],
    "request": lambda c, w, u: (
        _set(w, join_policy=Club.JoinPolicy.REQUEST),
        _api(c.post(_url(w, "requests/"), {"message": "hi"}, format="json")),
    )[1],
    "list_requests": lambda c, w, u: _api(c.get(_url(w, "requests/"))),
    "approve_request": lambda c, w, u: _api(c.post(_url(w, f"requests/{_request(w).pk}/approve/"))),
    "reject_request": lambda c, w, u: _api(c.post(_url(w, f"requests/{_request(w).pk}/reject/"))),
    "nominate": lambda c, w, u: _api(
        c.post(_url(w, "nominations/"), {"user": UserFactory().pk}, format="json")
    ),
    "list_nominations": lambda c, w, u: _api(c.get(_url(w, "nominations/"))),
    "approve_nomination": lambda c, w, u: _api(
        c.post(_url(w, f"nominations/{_nomination(w).pk}/approve/"))
    ),
    "reject_nomination": lambda c, w, u: _api(
        c.post(_url(w, f"nominations/{_nomination(w).pk}/reject/"))
    ),
    "withdraw_nomination": lambda c, w, u: _api(
        c.post(_url(w, f"nominations/{_nomination(w).pk}/withdraw/"))
    ),
    "members_public_list": lambda c, w, u: _api(c.get(_url(w, "members/"))),
    "members_private_list": lambda c, w, u: (
        _set(w, member_list_private=True),
        _api(c.get(_url(w, "members/"))),
    )[1],
    "set_role": lambda c, w, u: _api(
        c.post(
            _url(w, f"members/{MembershipFactory(club=w.club).user_id}/role/"),
            {"role": "leader"},
            format="json",
        )
    ),
    "remove_member": lambda c, w, u: _api(
        c.delete(_url(w, f"members/{MembershipFactory(club=w.club).user_id}/"))
    ),
    "remove_leader": lambda c, w, u: _api(
        c.delete(
            _url(
                w,
                f"members/{MembershipFactory(club=w.club, role=ClubMembership.Role.LEADER).user_id}/",
            )
        )
    ),
    "leave": lambda c, w, u: _api(c.post(_url(w, "leave/"))),
    "premium_status": lambda c, w, u: _api(c.get(_url(w, "premium/"))),
    "report": lambda c, w, u: _api(
        c.post(_url(w, "reports/"), {"reason": "spam", "text": "ads"}, format="json")
    ),
    "start_room": lambda c, w, u: _seam(selectors.club_can_start_room(user=u, club=w.club)),
    "schedule_event": lambda c, w, u: _seam(selectors.club_can_schedule_event(user=u, club=w.club)),
    "enter_public_room": lambda c, w, u: _room(w, u, members_only=False),
    "enter_members_only_room": lambda c, w, u: _room(w, u, members_only=True),
    "enter_exclusive_room": lambda c, w, u: (
        _set(w, is_exclusive=True),
        _room(w, u, members_only=True),
    )[1],
    "enter_exclusive_room_with_premium": _exclusive_with_premium,
    "hallway_club_ids": lambda c, w, u: _seam(w.club.pk in selectors.club_ids_for_user(u)),
}


CELLS = [
    pytest.param(action, role, expected, id=f"{action}-{role}")
    for action, row in MATRIX.items()
    for role, expected in zip(ROLES, row, strict=True)
    if expected != NA
]


def test_every_action_has_a_row_and_a_performer() -> None:
    assert set(MATRIX) == set(ACTIONS)


@pytest.mark.parametrize(("action", "role", "expected"), CELLS)
def test_permission_matrix(world: World, action: str, role: str, expected: str) -> None:
    user = world.person(role)
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    status, outcome = ACTIONS[action](client, world, user)
    assert outcome == expected
    if status is not None and expected != OK:
        assert status == STATUS[expected]
