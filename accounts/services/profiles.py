"""Profile edits (the API, the page and admin all come here)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import (
    Topic,
    User,
)
from accounts.validators import avatar_clean, validate_links
from clubhouse.errors import InvalidInput

PROFILE_FIELDS = ("display_name", "bio", "links", "topics", "avatar")


def user_profile_update(*, user: User, data: dict[str, Any]) -> User:
    """Update the given profile fields (any subset of PROFILE_FIELDS). `topics` is a list of
    topic slugs; `avatar` a file (validated again here, then
    re-encoded and renamed: accounts.validators.avatar_clean) or None to remove it."""
    errors: dict[str, list[str]] = {}
    unknown = set(data) - set(PROFILE_FIELDS)
    if unknown:
        raise InvalidInput(fields={name: ["Not a profile field."] for name in sorted(unknown)})
    topics: list[Topic] | None = None
    if "links" in data:
        try:
            data["links"] = validate_links(data["links"])
        except ValidationError as exc:
            errors["links"] = exc.messages
    avatar = None
    if data.get("avatar"):
        try:
            avatar = avatar_clean(data["avatar"])
        except ValidationError as exc:
            errors["avatar"] = exc.messages
    if "topics" in data:
        slugs = list(dict.fromkeys(data["topics"]))
        topics = list(Topic.objects.filter(slug__in=slugs))
        missing = sorted(set(slugs) - {t.slug for t in topics})
        if missing:
            errors["topics"] = [f"Unknown topic: {slug}." for slug in missing]
    if errors:
        raise InvalidInput(fields=errors)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        changed: list[str] = []
        for name in ("display_name", "bio", "links"):
            if name in data:
                setattr(user, name, data[name])
                changed.append(name)
        if "avatar" in data:
            old = user.avatar.name if user.avatar else ""
            if avatar is not None:
                # Never the uploader's file name: a random one with the real extension.
                user.avatar.save(avatar.name or "avatar", avatar, save=False)
            else:
                user.avatar = None
            changed.append("avatar")
            if old:
                storage = user.avatar.storage
                transaction.on_commit(lambda: storage.delete(old))
        if changed:
            user.save(update_fields=changed)
        if topics is not None:
            user.topics.set(topics)
        return user
