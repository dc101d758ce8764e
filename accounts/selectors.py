"""Reads about people and their graph. Other apps call these; keep the names stable."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts.models import Block, Follow, User


def user_follows(follower: User, followee: User) -> bool:
    return Follow.objects.filter(follower=follower, followee=followee).exists()


def user_is_blocked_between(a: User, b: User) -> bool:
    """True when either has blocked the other."""
    return Block.objects.filter(Q(blocker=a, blocked=b) | Q(blocker=b, blocked=a)).exists()


def user_hidden_ids(viewer: User) -> QuerySet[Block, int]:
    """Ids the viewer must not see: people they blocked and people who blocked them."""
    blocked = Block.objects.filter(blocker=viewer).values_list("blocked_id", flat=True)
    blockers = Block.objects.filter(blocked=viewer).values_list("blocker_id", flat=True)
    return blocked.union(blockers)
