import pytest

from accounts import demo as accounts_demo
from clubs import demo
from clubs.models import Club, ClubFollow, ClubMembership, ClubNomination, PremiumMembership
from clubs.selectors import club_room_access

pytestmark = pytest.mark.django_db


def _counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count()
        for model in (Club, ClubMembership, ClubFollow, ClubNomination, PremiumMembership)
    )


def test_demo_clubs_load_idempotently_with_an_exclusive_club() -> None:
    list(accounts_demo.load())
    lines = list(demo.load())
    assert any("[exclusive]" in line for line in lines)
    first = _counts()
    assert first[0] == 3
    list(demo.load())
    assert _counts() == first

    circle = Club.objects.get(slug="octavias-book-circle")
    frida = ClubMembership.objects.get(club=circle, user__username="frida").user
    ada = ClubMembership.objects.get(club=circle, user__username="ada").user
    assert club_room_access(user=frida, club=circle, members_only=True) is None
    assert club_room_access(user=ada, club=circle, members_only=True) == "club_premium_required"
