"""Draws the app icons of the web app manifest (the favicon's green rounded square with a white
"C") as PNGs into static/icons/, with Pillow: `manage.py app_icons`. The PNGs are committed; run
this again only to change them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from PIL import Image, ImageDraw, ImageFont

GREEN = (47, 111, 79, 255)
WHITE = (255, 255, 255, 255)


def draw(size: int, *, maskable: bool) -> Image.Image:
    image = Image.new("RGBA", (size, size), GREEN if maskable else (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    if not maskable:  # a maskable icon fills its square: the platform cuts its own shape
        pen.rounded_rectangle((0, 0, size - 1, size - 1), radius=size * 18 // 64, fill=GREEN)
    # the letter stays inside a maskable icon's safe zone (the middle 80%)
    font = ImageFont.load_default(size=size * (30 if maskable else 36) // 64)
    pen.text((size / 2, size / 2), "C", font=font, fill=WHITE, anchor="mm")
    return image


class Command(BaseCommand):
    help = "Draw the web app manifest's icons into static/icons/."

    def handle(self, *args: Any, **options: Any) -> None:
        out = Path(settings.BASE_DIR) / "static" / "icons"
        out.mkdir(parents=True, exist_ok=True)
        for size in (192, 512):
            draw(size, maskable=False).save(out / f"icon-{size}.png", optimize=True)
            draw(size, maskable=True).save(out / f"icon-maskable-{size}.png", optimize=True)
        draw(180, maskable=True).convert("RGB").save(out / "apple-touch-icon.png", optimize=True)
        self.stdout.write(f"wrote icons to {out}")
