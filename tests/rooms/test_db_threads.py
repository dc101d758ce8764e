"""How many threads a web process gives the room sockets' database work (rooms/realtime/dbpool.py)."""

from typing import Any

import pytest
from django.conf import settings as django_settings

from rooms.realtime import conf


def test_postgresql_gets_the_configured_threads(settings: Any) -> None:
    settings.ROOM_DB_THREADS = 6
    assert django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    assert conf.db_threads() == 6


def test_sqlite_takes_one_writer_so_one_thread(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.ROOM_DB_THREADS = 6
    monkeypatch.setitem(
        django_settings.DATABASES["default"], "ENGINE", "django.db.backends.sqlite3"
    )
    assert conf.db_threads() == 1
