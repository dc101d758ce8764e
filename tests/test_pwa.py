"""The installable web app (issue #17, point 5): the manifest, the service worker at the site
root and its offline page, each with the right content type, and a CSP that allows them."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from PIL import Image

from clubhouse import settings as project_settings

pytestmark = [pytest.mark.django_db]


def test_the_manifest_is_served_at_the_root_as_a_web_app_manifest(client: Client) -> None:
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/manifest+json"
    manifest = json.loads(response.content)
    assert manifest["start_url"] == "/"
    assert manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    sizes = {(icon["sizes"], icon.get("purpose", "any")) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        assert icon["type"] == "image/png"
        assert client.get(icon["src"]).status_code == 200


@pytest.mark.parametrize("size", [192, 512])
def test_the_icons_are_pngs_of_their_size(size: int) -> None:
    static = project_settings.BASE_DIR / "static" / "icons"
    for name in (f"icon-{size}.png", f"icon-maskable-{size}.png"):
        with Image.open(static / name) as image:
            assert image.format == "PNG"
            assert image.size == (size, size)


def test_the_service_worker_is_javascript_at_the_root_and_never_stale(client: Client) -> None:
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    assert "no-cache" in response["Cache-Control"]
    body = response.content.decode()
    assert 'const OFFLINE_URL = "/offline/";' in body
    for handler in ("install", "fetch", "push", "notificationclick"):
        assert f'addEventListener("{handler}"' in body


def test_the_offline_page_needs_no_login_and_no_inline_script(client: Client) -> None:
    response = client.get("/offline/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "You're offline" in html
    assert "<script>" not in html


def test_the_content_security_policy_allows_the_worker_and_the_manifest(client: Client) -> None:
    policy = client.get("/offline/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["worker-src"] == "'self'"
    assert directives["manifest-src"] == "'self'"


def test_every_page_links_the_manifest(client: Client) -> None:
    html = client.get("/accounts/login/").content.decode()
    assert '<link rel="manifest" href="/manifest.webmanifest">' in html
