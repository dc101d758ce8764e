"""The relay writes no media anywhere: nothing in this process opens a file for writing while
audio is being forwarded."""

from __future__ import annotations

import os
import stat
import sys
from typing import Any

from media_relay.testing import wait_for
from tests.media_relay.conftest import Stage

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_watch: dict[str, Any] = {"on": False, "writes": []}


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _watch["on"] or event != "open":
        return
    path, mode, flags = (*args, None, None, None)[:3]
    writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
        isinstance(flags, int) and flags & _WRITE_FLAGS
    )
    if writes:
        _watch["writes"].append((path, mode, flags))


sys.addaudithook(_audit)  # audit hooks cannot be removed; this one only records while "on"


def _regular_files_open_for_writing() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
            if not stat.S_ISREG(os.stat(f"/proc/self/fd/{fd}").st_mode):
                continue
            with open(f"/proc/self/fdinfo/{fd}") as info:
                fields = dict(line.split(":", 1) for line in info if ":" in line)
            flags = int(fields["flags"].strip(), 8)
        except OSError:
            continue
        if flags & (os.O_WRONLY | os.O_RDWR):
            found.add(target)
    return found


async def test_forwarding_opens_no_file_for_writing(stage: Stage) -> None:
    before = _regular_files_open_for_writing()
    await stage.speaker()
    listeners = [await stage.listener(100 + i) for i in range(2)]
    _watch["writes"].clear()
    _watch["on"] = True
    try:
        assert await wait_for(lambda: all(c.tone_frames > 25 for c in listeners), 6.0)
        stage.room.speaker_mute(1)
        stage.room.speaker_mute(1, muted=False)
        assert await wait_for(lambda: stage.room.metrics()["packets_out"] > 60, 3.0)
    finally:
        _watch["on"] = False
    assert _watch["writes"] == []
    assert _regular_files_open_for_writing() - before == set()
