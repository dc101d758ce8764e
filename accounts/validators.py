"""Profile input checks shared by the API, the pages and the services."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from PIL import Image, UnidentifiedImageError

from accounts import conf

AVATAR_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP"}

_url = URLValidator(schemes=["http", "https"])


def validate_avatar(file: Any) -> None:
    """At most 2 MiB (by default) and really a JPEG, PNG or WebP image (Pillow decides, not
    the file name or the declared content type)."""
    limit = conf.avatar_max_bytes()
    if file.size is not None and file.size > limit:
        raise ValidationError(
            f"The image is too large ({file.size} bytes); the limit is {limit // 1024} KiB.",
            code="avatar_too_large",
        )
    position = file.tell() if hasattr(file, "tell") else 0
    try:
        file.seek(0)
        with Image.open(file) as image:
            kind = image.format
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValidationError(
            "Upload a valid image (JPEG, PNG or WebP).", code="avatar_invalid"
        ) from exc
    finally:
        file.seek(position)
    if kind not in AVATAR_FORMATS:
        raise ValidationError(
            f"{kind} images are not accepted; use JPEG, PNG or WebP.", code="avatar_type"
        )


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
