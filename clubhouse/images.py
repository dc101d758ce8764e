"""Uploaded pictures (avatars, club photos): decoded and re-encoded before they are stored.

The uploader chooses the bytes, the file name and the declared content type; none of them is
trusted. Pillow decodes the image (anything it cannot decode, or a format outside the allowed
ones, is refused), the pixels are re-encoded in the format Pillow found, without any metadata
(EXIF with GPS positions, XMP, text chunks, comments), scaled down to a bounded size, and stored
under a random name with the extension of the real format. A PNG sent as `a.html` is stored as
`<random>.png`, and a polyglot file loses whatever it carried besides pixels.
"""

from __future__ import annotations

import contextlib
import io
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow format name -> file extension
IMAGE_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


def image_max_pixels() -> int:
    """Pictures larger than this (width x height) are refused before they are decoded, so a
    small file that decompresses to gigabytes (a decompression bomb) costs nothing."""
    return int(getattr(settings, "IMAGE_MAX_PIXELS", 40_000_000))


def image_max_side() -> int:
    """Stored pictures are scaled down (keeping their proportions) to at most this many pixels
    on their longer side."""
    return int(getattr(settings, "IMAGE_MAX_SIDE", 1024))


def image_sanitize(file: Any, *, max_bytes: int, code_prefix: str, noun: str) -> ContentFile:
    """Return a clean copy of an uploaded image, named `<random hex>.<real extension>`.

    Raises ValidationError with codes `<code_prefix>_too_large`, `<code_prefix>_invalid` or
    `<code_prefix>_type`; `noun` ("image", "photo") is used in the messages."""
    size = getattr(file, "size", None)
    if size is not None and size > max_bytes:
        raise ValidationError(
            f"The {noun} is too large ({size} bytes); the limit is {max_bytes // 1024} KiB.",
            code=f"{code_prefix}_too_large",
        )
    accepted = "JPEG, PNG or WebP"
    invalid = ValidationError(f"Upload a valid {noun} ({accepted}).", code=f"{code_prefix}_invalid")
    try:
        file.seek(0)
        with Image.open(file) as image:
            kind = image.format or ""
            if kind not in IMAGE_FORMATS:
                raise ValidationError(
                    f"{kind or 'These'} images are not accepted; use {accepted}.",
                    code=f"{code_prefix}_type",
                )
            width, height = image.size
            if width * height > image_max_pixels():
                raise ValidationError(
                    f"The {noun} is too large ({width}x{height} pixels).",
                    code=f"{code_prefix}_too_large",
                )
            image.load()
            # Honour the camera's orientation before the EXIF that carries it is dropped.
            clean = ImageOps.exif_transpose(image)
    except ValidationError:
        raise
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        SyntaxError,
        ValueError,
        TypeError,
        EOFError,
    ) as exc:
        raise invalid from exc
    finally:
        with contextlib.suppress(OSError, ValueError):
            file.seek(0)
    clean.thumbnail((image_max_side(), image_max_side()))
    clean = _without_metadata(clean, kind)
    out = io.BytesIO()
    clean.save(out, format=kind, **({"quality": 90} if kind in ("JPEG", "WEBP") else {}))
    return ContentFile(out.getvalue(), name=f"{uuid.uuid4().hex}.{IMAGE_FORMATS[kind]}")


def _without_metadata(image: Image.Image, kind: str) -> Image.Image:
    """A new image holding only the pixels (and palette): nothing from the uploaded file's
    info, EXIF, XMP or text chunks can reach the encoder."""
    mode = image.mode
    if kind == "JPEG" and mode not in ("L", "RGB", "CMYK"):
        image, mode = image.convert("RGB"), "RGB"
    elif kind == "WEBP" and mode not in ("RGB", "RGBA"):
        target = "RGBA" if "A" in mode or "transparency" in image.info else "RGB"
        image, mode = image.convert(target), target
    elif kind == "PNG" and mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
        image, mode = image.convert("RGBA"), "RGBA"
    if mode == "P" and "transparency" in image.info:
        # Carry a palette image's transparency as RGBA pixels rather than as an info chunk.
        image, mode = image.convert("RGBA"), "RGBA"
    clean = Image.new(mode, image.size)
    clean.frombytes(image.tobytes())
    if mode == "P":
        palette = image.getpalette()
        if palette is not None:
            clean.putpalette(palette)
    return clean
