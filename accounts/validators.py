"""Profile input checks shared by the API, the pages and the services."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.validators import URLValidator

from accounts import conf
from clubhouse.images import image_sanitize

_url = URLValidator(schemes=["http", "https"])


def avatar_clean(file: Any) -> ContentFile:
    """The picture to store: at most 2 MiB (by default) uploaded, really a JPEG, PNG or WebP
    (Pillow decides, not the file name or the declared content type), re-encoded without its
    metadata (EXIF/GPS) and named `<random>.<real extension>` (clubhouse/images.py)."""
    return image_sanitize(
        file, max_bytes=conf.avatar_max_bytes(), code_prefix="avatar", noun="image"
    )


def validate_avatar(file: Any) -> None:
    avatar_clean(file)


def validate_links(value: Any) -> list[str]:
    """A list of at most 5 (by default) absolute http(s) URLs; returns them stripped."""
    limit = conf.profile_max_links()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("Give a list of URLs.", code="links_type")
    if len(value) > limit:
        raise ValidationError(f"At most {limit} links.", code="links_too_many")
    cleaned = []
    for item in value:
        link = item.strip()
        try:
            _url(link)
        except ValidationError as exc:
            raise ValidationError(f"“{link}” is not an http(s) URL.", code="link_invalid") from exc
        cleaned.append(link)
    return cleaned
