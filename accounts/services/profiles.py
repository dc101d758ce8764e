"""Profile edits (the API, the page and admin all come here)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import (
    Topic,
    User,
)
from accounts.validators import validate_avatar, validate_links
from clubhouse.errors import InvalidInput

PROFILE_FIELDS = ("display_name", "bio", "links", "topics", "avatar")


def user_profile_update(*, user: User, data: dict[str, Any]) -> User:
    """Update the given profile fields (any subset of PROFILE_FIELDS). `topics` is a list of
    topic slugs; `avatar` a file (validated again here) or None to remove it."""
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
    if data.get("avatar"):
        try:
            validate_avatar(data["avatar"])
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
            if data["avatar"]:
                user.avatar.save(data["avatar"].name, data["avatar"], save=False)
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
