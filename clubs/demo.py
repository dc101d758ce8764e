"""Demo clubs for `make run`, built from the demo people of accounts/demo.py. Idempotent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model

from accounts.selectors import topic_list
from clubs.models import (
    Club,
    ClubFollow,
    ClubMembership,
    ClubMembershipRequest,
    ClubNomination,
    PremiumMembership,
)

if TYPE_CHECKING:
    from accounts.models import User
else:
    User = get_user_model()

Role = ClubMembership.Role

# slug, name, topic, settings, {username: role}, followers
DEMO_CLUBS: list[tuple[str, str, str, dict[str, Any], dict[str, str], list[str]]] = [
    (
        "hidden-figures",
        "Hidden Figures",
        "science",
        {"join_policy": Club.JoinPolicy.NOMINATION, "is_verified": True},
        {"katherine": Role.ADMIN, "grace": Role.LEADER, "ada": Role.MEMBER, "alan": Role.MEMBER},
        ["marie", "hedy"],
    ),
    (
        "open-source-jazz",
        "Open Source Jazz",
        "music",
        {"join_policy": Club.JoinPolicy.OPEN},
        {"miles": Role.ADMIN, "nina": Role.LEADER, "linus": Role.MEMBER, "hedy": Role.MEMBER},
        ["ada", "frida"],
    ),
    (
        "octavias-book-circle",
        "Octavia's Book Circle",
        "books",
        {
            "join_policy": Club.JoinPolicy.REQUEST,
            "is_exclusive": True,
            "member_list_private": True,
        },
        {"octavia": Role.ADMIN, "james": Role.LEADER, "frida": Role.MEMBER, "ada": Role.MEMBER},
        ["nina"],
    ),
]


def load() -> Iterator[str]:
    people = {user.username: user for user in User.objects.filter(username__in=_usernames())}
    for slug, name, topic_slug, settings, roles, followers in DEMO_CLUBS:
        admin = people.get(next(u for u, r in roles.items() if r == Role.ADMIN))
        club, created = Club.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "description": f"A demo club: {name}.",
                "rules": "Be kind. Stay on topic. No recording.",
                "created_by": admin,
                **settings,
            },
        )
        if created:
            club.topics.set(topic_list(slugs=[topic_slug]))
        for username, role in roles.items():
            if username in people:
                ClubMembership.objects.get_or_create(
                    club=club, user=people[username], defaults={"role": role}
                )
        for username in followers:
            if username in people:
                ClubFollow.objects.get_or_create(club=club, user=people[username])
        members = ", ".join(f"{u} ({r})" for u, r in roles.items() if u in people)
        yield f"Club /{slug}: {members}" + (" [exclusive]" if club.is_exclusive else "")

    circle = Club.objects.get(slug="octavias-book-circle")
    if "frida" in people:
        PremiumMembership.objects.get_or_create(
            club=circle,
            user=people["frida"],
            defaults={"source": PremiumMembership.Source.STAFF_GRANT},
        )
        yield "Premium: frida in Octavia's Book Circle (ada is a member without premium)"
    if {"ada", "hedy"} <= set(people) and not ClubMembership.objects.filter(
        club__slug="hidden-figures", user=people["hedy"]
    ).exists():
        ClubNomination.objects.get_or_create(
            club=Club.objects.get(slug="hidden-figures"),
            nominee=people["hedy"],
            status=ClubNomination.Status.PENDING,
            defaults={"nominated_by": people["ada"], "note": "She invented frequency hopping."},
        )
    if "marie" in people:
        ClubMembershipRequest.objects.get_or_create(
            club=circle,
            user=people["marie"],
            status=ClubMembershipRequest.Status.PENDING,
            defaults={"message": "I'd love to join."},
        )
    yield "Pending: ada nominated hedy to Hidden Figures; marie asks to join the Book Circle"


def _usernames() -> set[str]:
    names: set[str] = set()
    for _, _, _, _, roles, followers in DEMO_CLUBS:
        names |= set(roles) | set(followers)
    return names | {"marie"}
