"""Backups as a self-hoster keeps them: the database and uploaded media (docs/operations.md,
"Backups"). Redis holds only short-lived state (presence, pub/sub, caches, Celery's queue), so
there is nothing of it to keep.

- PostgreSQL: `pg_dump --format=custom` of the configured database; restored with `pg_restore`
  into an empty database.
- SQLite (`make run`): the database file, copied with SQLite's online backup.
- Media: a tar.gz of `MEDIA_ROOT` (avatars, club photos).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone


class BackupError(RuntimeError):
    pass


@dataclass(frozen=True)
class Backup:
    database: Path
    media: Path | None


def _pg_args(settings_dict: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    args = ["--dbname", str(settings_dict["NAME"])]
    if settings_dict.get("HOST"):
        args += ["--host", str(settings_dict["HOST"])]
    if settings_dict.get("PORT"):
        args += ["--port", str(settings_dict["PORT"])]
    if settings_dict.get("USER"):
        args += ["--username", str(settings_dict["USER"])]
    env = dict(os.environ)
    if settings_dict.get("PASSWORD"):
        env["PGPASSWORD"] = str(settings_dict["PASSWORD"])
    return args, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (Debian: apt install postgresql-client)")
    return found


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {done.stderr.strip()[-2000:]}")


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy even while the server writes."""
    reading = sqlite3.connect(str(source))
    writing = sqlite3.connect(str(target))
    try:
        reading.backup(writing)
    finally:
        writing.close()
        reading.close()


def backup_make(directory: Path) -> Backup:
    """Write the database and the media into `directory`; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    if connection.vendor == "postgresql":
        database = directory / f"clubhouse-{stamp}.dump"
        args, env = _pg_args(connection.settings_dict)
        _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(database), *args],
             env)  # fmt: skip
    elif connection.vendor == "sqlite":
        database = directory / f"clubhouse-{stamp}.sqlite3"
        _sqlite_copy(Path(str(connection.settings_dict["NAME"])), database)
    else:
        raise BackupError(f"no backup for the {connection.vendor} database backend")
    media_root = Path(settings.MEDIA_ROOT)
    media = None
    if media_root.is_dir():
        media = directory / f"media-{stamp}.tar.gz"
        with tarfile.open(media, "w:gz") as archive:
            archive.add(media_root, arcname="media")
    return Backup(database=database, media=media)


def backup_restore(database: Path, media: Path | None = None, *, force: bool = False) -> None:
    """Restore a backup into the configured database (which must be empty, unless `force`:
    then what the dump holds replaces what is there) and the media into `MEDIA_ROOT`."""
    if connection.vendor == "postgresql":
        if connection.introspection.table_names() and not force:
            raise BackupError(
                f"the database {connection.settings_dict['NAME']} is not empty: restore into a "
                "new database, or pass --force to replace its tables"
            )
        args, env = _pg_args(connection.settings_dict)
        clean = ["--clean", "--if-exists"] if force else []
        _run([_tool("pg_restore"), "--no-owner", "--exit-on-error", *clean, *args,
              str(database)], env)  # fmt: skip
    elif connection.vendor == "sqlite":
        target = Path(str(connection.settings_dict["NAME"]))
        if target.exists() and target.stat().st_size and not force:
            raise BackupError(f"{target} exists: pass --force to replace it")
        connection.close()
        _sqlite_copy(database, target)
    else:
        raise BackupError(f"no restore for the {connection.vendor} database backend")
    connection.close()  # the next query sees the restored database
    if media is not None:
        media_root = Path(settings.MEDIA_ROOT)
        media_root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(media, "r:gz") as archive:
            members = [m for m in archive.getmembers() if m.name.startswith("media/")]
            for member in members:
                member.name = member.name.removeprefix("media/")
            archive.extractall(media_root, members=[m for m in members if m.name],
                               filter="data")  # fmt: skip
