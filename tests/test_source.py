"""The licence's promise to users (GNU AGPL, section 13): every page links to the source of the
code the server runs, and `/source/` hands it out, without the server's secrets or state."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from django.test import Client

from accounts.models import User
from clubhouse import source
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_every_page_links_to_the_source(client: Client) -> None:
    for url in ("/", "/privacy/", "/accounts/login/"):
        page = client.get(url, follow=True).content.decode()
        assert 'href="/source/" rel="license">Source code</a>' in page, url
        assert "GNU AGPL" in page


def test_someone_on_the_waitlist_may_get_the_source_too(client: Client) -> None:
    """A waitlisted person is sent to the waitlist screen from everywhere else."""
    client.force_login(UserFactory(status=User.Status.WAITLISTED))
    assert client.get("/source/").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_a_deployment_that_publishes_its_code_elsewhere_links_there(
    client: Client, settings: object
) -> None:
    settings.SOURCE_CODE_URL = "https://git.example.org/clubhouse/-/tree/v1.2.3"  # type: ignore[attr-defined]
    page = client.get("/privacy/").content.decode()
    assert 'href="https://git.example.org/clubhouse/-/tree/v1.2.3"' in page


def test_the_source_archive_is_the_code_the_server_runs(client: Client) -> None:
    response = client.get("/source/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/gzip"
    assert 'filename="clubhouse-source.tar.gz"' in response["Content-Disposition"]
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        names = set(archive.getnames())
        licence = archive.extractfile("clubhouse/LICENSE")
        assert licence is not None
        assert licence.read() == (source.ROOT / "LICENSE").read_bytes()
        this_file = archive.extractfile("clubhouse/tests/test_source.py")
        assert this_file is not None
        assert this_file.read() == Path(__file__).read_bytes()
        modes = {m.mode for m in archive.getmembers()}
    for needed in ("clubhouse/manage.py", "clubhouse/Makefile", "clubhouse/requirements.txt",
                   "clubhouse/clubhouse/settings.py", "clubhouse/payouts/services/charges.py",
                   "clubhouse/templates/base.html", "clubhouse/media_relay/fastpath.c",
                   "clubhouse/Dockerfile", "clubhouse/deploy/compose.yaml"):  # fmt: skip
        assert needed in names
    assert not [n for n in names if n.startswith("clubhouse/.venv") or "__pycache__" in n]
    assert not [n for n in names if n.endswith((".env", ".sqlite3", ".so", ".pyc"))]
    assert modes <= {0o644, 0o755}


def test_secrets_state_and_build_products_never_go_in(tmp_path: Path) -> None:
    for name in ("manage.py", "LICENSE", ".env", "db.sqlite3", "accounts/models.py",
                 "accounts/.env", "accounts/__pycache__/models.cpython-311.pyc",
                 "media_relay/fastpath.c", "media_relay/_fastpath.cpython-311.so",
                 "bench/results/relay.json", "media/avatars/a.png", ".venv/bin/python",
                 "static/app.css", "tests/test_x.py", "Dockerfile", "deploy/compose.yaml",
                 "deploy/.env", "deploy/.env.example"):  # fmt: skip
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    assert {str(p) for p in source.source_files(tmp_path)} == {
        "manage.py", "LICENSE", "accounts/models.py", "media_relay/fastpath.c",
        "static/app.css", "tests/test_x.py", "Dockerfile", "deploy/compose.yaml",
        "deploy/.env.example",
    }  # fmt: skip
