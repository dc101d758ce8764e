"""The running code's source, for everyone who uses the service (GNU AGPL, section 13).

The licence asks a network service to offer its users the Corresponding Source of the version
they interact with, modifications included. Every page's footer links to it: `SOURCE_CODE_URL`
when the deployment publishes its code elsewhere (a repository at the deployed commit), else
`/source/`, which serves a tar.gz of the code this process runs, made from the files on disk
(so local changes are in it) and built once per process.

Only source goes in: the apps, templates, static files, tests, docs and the build files, never
the environment file, databases, uploaded media, the virtualenv or compiled objects.
"""

from __future__ import annotations

import io
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, HttpRequest

ROOT = Path(__file__).resolve().parent.parent

DIRECTORIES = (
    "accounts", "bench", "clubhouse", "clubs", "deploy", "docs", "media_relay", "payouts",
    "rooms", "static", "templates", "tests", ".ci",
)  # fmt: skip
FILES = (
    "LICENSE", "README.md", "CONTRIBUTING.md", "CHANGELOG.md", "Makefile", "manage.py",
    "pyproject.toml", "requirements.txt", "requirements-dev.txt", ".importlinter", ".gitignore",
    "Dockerfile", ".dockerignore",
)  # fmt: skip
# Never source, wherever they appear: caches, compiled objects, local state, secrets.
EXCLUDED_PARTS = frozenset({"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache",
                            "node_modules", "results"})  # fmt: skip
EXCLUDED_SUFFIXES = frozenset({".pyc", ".pyo", ".so", ".o", ".sqlite3", ".log", ".env"})
EXCLUDED_NAMES = frozenset({".env", "db.sqlite3"})

_lock = threading.Lock()
_archive: bytes | None = None


def source_files(root: Path = ROOT) -> Iterator[Path]:
    """The files that make the source, relative to `root`, in a stable order."""
    for name in FILES:
        if (root / name).is_file():
            yield Path(name)
    for directory in DIRECTORIES:
        for path in sorted((root / directory).rglob("*")):
            relative = path.relative_to(root)
            if not path.is_file() or path.is_symlink():
                continue
            if EXCLUDED_PARTS.intersection(relative.parts) or path.name in EXCLUDED_NAMES:
                continue
            if path.suffix in EXCLUDED_SUFFIXES:
                continue
            yield relative


def source_archive(root: Path = ROOT) -> bytes:
    """A tar.gz of the source under `clubhouse/`, with plain file modes and no owners."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as archive:
        for relative in source_files(root):
            info = archive.gettarinfo(str(root / relative), arcname=f"clubhouse/{relative}")
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o755 if info.mode & 0o100 else 0o644
            with (root / relative).open("rb") as handle:
                archive.addfile(info, handle)
    return buffer.getvalue()


def source_code_url() -> str:
    """Where the footer's "Source code" link goes."""
    return str(getattr(settings, "SOURCE_CODE_URL", "") or "/source/")


def source(request: HttpRequest) -> FileResponse:
    """GET /source/: the running code as a tar.gz (anyone may download it)."""
    global _archive
    with _lock:  # built once per process; the code does not change while it runs
        if _archive is None:
            _archive = source_archive()
    response = FileResponse(
        io.BytesIO(_archive),
        as_attachment=True,
        filename="clubhouse-source.tar.gz",
        content_type="application/gzip",
    )
    response["Cache-Control"] = "public, max-age=3600"
    return response
