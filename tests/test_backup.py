"""Backups (docs/operations.md, "Backups"): a dump of a database holding money, restored into a
fresh database by `manage.py restore` in a process of its own, holds the same ledger, balanced;
uploaded media come back too."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from clubhouse.backup import BackupError, _sqlite_copy, backup_restore
from clubhouse.money import Money
from payouts import services
from payouts.models import Entry, Journal, Tip
from tests.payouts.conftest import follow, fund, make_creator, make_user

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _server_url(name: str) -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"


def _ledger(url: str) -> tuple[int, dict[str, int], int]:
    """(journals, sum per currency, unbalanced journals) as the database itself says."""
    with psycopg.connect(url) as db:
        journals = db.execute("SELECT count(*) FROM payouts_journal").fetchone()
        totals = db.execute(
            "SELECT currency, sum(amount) FROM payouts_entry GROUP BY currency"
        ).fetchall()
        unbalanced = db.execute(
            "SELECT count(*) FROM (SELECT journal_id FROM payouts_entry GROUP BY journal_id "
            "HAVING sum(amount) <> 0) AS j"
        ).fetchone()
    assert journals is not None
    assert unbalanced is not None
    return int(journals[0]), {c: int(t) for c, t in totals}, int(unbalanced[0])


def test_a_restored_backup_holds_the_same_balanced_ledger_and_the_media(
    tmp_path: Path, settings: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    (tmp_path / "media" / "avatars").mkdir(parents=True)
    (tmp_path / "media" / "avatars" / "ada.png").write_bytes(b"\x89PNG picture")
    fund()
    sender, creator = make_user(), make_creator()
    follow(sender, creator)
    services.tip_send(sender=sender, creator=creator, amount=Money(1000, "USD"),
                      payment_method="pm_card_visa")  # fmt: skip
    journals = Journal.objects.count()
    assert journals >= 2
    assert Entry.objects.exists()

    call_command("backup", str(tmp_path / "backups"))
    (dump,) = (tmp_path / "backups").glob("clubhouse-*.dump")
    (media,) = (tmp_path / "backups").glob("media-*.tar.gz")
    with tarfile.open(media) as archive:
        assert "media/avatars/ada.png" in archive.getnames()

    fresh = f"restore_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_server_url("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{fresh}"')
    try:
        env = {**os.environ, "DATABASE_URL": _server_url(fresh), "DJANGO_DEBUG": "1",
               "MEDIA_ROOT": str(tmp_path / "restored-media")}  # fmt: skip
        done = subprocess.run(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", "restore", str(dump), "--media", str(media)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"ledger balanced: {journals} journals" in done.stdout
        restored_journals, totals, unbalanced = _ledger(_server_url(fresh))
        assert (restored_journals, unbalanced) == (journals, 0)
        assert totals
        assert set(totals.values()) == {0}
        with psycopg.connect(_server_url(fresh)) as db:
            tips = db.execute("SELECT status FROM payouts_tip").fetchall()
        assert tips == [(Tip.Status.SUCCEEDED.value,)]
        assert (tmp_path / "restored-media" / "avatars" / "ada.png").read_bytes() == (
            b"\x89PNG picture"
        )

        # Restoring again over what is there is refused without --force.
        again = subprocess.run(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", "restore", str(dump)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert again.returncode != 0
        assert "is not empty" in again.stderr
    finally:
        with psycopg.connect(_server_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')


def test_restoring_into_a_database_in_use_is_refused() -> None:
    with pytest.raises(BackupError, match="is not empty"):
        backup_restore(Path("/nonexistent.dump"))


def test_the_sqlite_copy_of_make_run_is_consistent(tmp_path: Path) -> None:
    """`make run`'s SQLite file is copied with SQLite's online backup (a plain file copy can
    catch a write half-done)."""
    source = tmp_path / "db.sqlite3"
    with sqlite3.connect(source) as db:
        db.execute("CREATE TABLE ledger (amount INTEGER)")
        db.executemany("INSERT INTO ledger VALUES (?)", [(500,), (-500,)])
    _sqlite_copy(source, tmp_path / "copy.sqlite3")
    with sqlite3.connect(tmp_path / "copy.sqlite3") as copy:
        assert copy.execute("SELECT count(*), sum(amount) FROM ledger").fetchone() == (2, 0)
