"""Content-Security-Policy and Permissions-Policy (docs/operations.md, "Security headers").

The browser tests (tests/browser/test_deployed_pages.py, and every page test's clean console)
prove the client works under the policy; these pin the policy itself and keep the templates free
of what it forbids.
"""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

BASE_DIR = Path(settings.BASE_DIR)
TEMPLATES = sorted(
    p
    for p in BASE_DIR.glob("**/templates/**/*.html")
    if ".venv" not in p.parts and "node_modules" not in p.parts
)
# an inline script (a <script> without src that the browser would run), a style element or
# attribute, or an inline event handler: all refused by the policy
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>"
    r"|<style\b|\sstyle=|\son[a-z]+=",
    re.IGNORECASE,
)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/accounts/signup/"])
def test_every_page_forbids_inline_and_foreign_scripts(client: Client, path: str) -> None:
    response = client.get(path)
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'self'"
    assert "unsafe-inline" not in policy["script-src"]
    assert "unsafe-eval" not in policy["script-src"]
    assert "unsafe-inline" not in policy["style-src"]
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "'self'" in policy["connect-src"].split()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/api/v1/me/"])
def test_only_this_site_may_use_the_microphone(client: Client, path: str) -> None:
    permissions = client.get(path).headers["Permissions-Policy"]
    assert "microphone=(self)" in [p.strip() for p in permissions.split(",")]


def test_templates_hold_no_inline_script_style_or_event_handler() -> None:
    assert TEMPLATES, "no template found"
    found = [
        f"{path.relative_to(BASE_DIR)}: {match[0].strip()}"
        for path in TEMPLATES
        for match in INLINE.finditer(path.read_text())
    ]
    assert found == [], "\n".join(found)
