"""The installable web app (docs/operations.md, "Installable web app"): the manifest, the
service worker and its offline page. The worker must be served from the site root for its
scope to cover every page, so it is a view here (rendered with the hashed static URLs it
pre-caches), not a static file under /static/."""

from __future__ import annotations

import hashlib
import json

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

# The worker and the manifest change with a deploy: browsers re-check the worker on each
# navigation anyway (at most every 24 h), so a short cache keeps updates prompt.
_SHORT = {"max_age": 300, "public": True}


@require_safe
@cache_control(**_SHORT)
def manifest(request: HttpRequest) -> HttpResponse:
    body = {
        "name": "Clubhouse",
        "short_name": "Clubhouse",
        "description": "Live audio rooms: drop in, listen, raise your hand.",
        "id": "/",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#2f6f4f",
        "icons": [
            {"src": static(f"icons/icon-{n}.png"), "sizes": f"{n}x{n}", "type": "image/png"}
            for n in (192, 512)
        ]
        + [
            {
                "src": static(f"icons/icon-maskable-{n}.png"),
                "sizes": f"{n}x{n}",
                "type": "image/png",
                "purpose": "maskable",
            }
            for n in (192, 512)
        ],
    }
    return HttpResponse(json.dumps(body), content_type="application/manifest+json")


@require_safe
@cache_control(max_age=0, no_cache=True)
def service_worker(request: HttpRequest) -> HttpResponse:
    precache = [
        reverse("offline"),
        static("app.css"),
        static("icons/icon-192.png"),
        static("favicon.svg"),
    ]
    # A new version whenever what it pre-caches changes (the hashed static names do).
    version = hashlib.sha256("\n".join(precache).encode()).hexdigest()[:12]
    body = render_to_string(
        "pwa/sw.js",
        {
            "precache": json.dumps(precache),
            "offline_url": json.dumps(reverse("offline")),
            "cache_name": json.dumps(f"clubhouse-{version}"),
            "icon": json.dumps(static("icons/icon-192.png")),
        },
    )
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    return response


@require_safe
def offline(request: HttpRequest) -> HttpResponse:
    """What the worker shows for a page that could not load (no network). Cached at install,
    so it must not depend on who is logged in."""
    return render(request, "pwa/offline.html")
