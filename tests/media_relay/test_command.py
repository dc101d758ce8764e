"""`manage.py relay` and the embedded worker start."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command

from media_relay import worker as worker_module
from media_relay.placement import MemoryRegistry


def test_relay_command_is_registered() -> None:
    with pytest.raises(SystemExit) as exit_info:
        call_command("relay", "--help")
    assert exit_info.value.code == 0


async def test_embedded_worker_registers_and_answers_on_its_channel(
    monkeypatch: pytest.MonkeyPatch, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = ""
    registry = MemoryRegistry()
    monkeypatch.setattr("media_relay.placement._memory", registry)
    monkeypatch.setattr(worker_module, "_embedded", None)
    from channels.layers import channel_layers

    monkeypatch.setitem(
        settings.CHANNEL_LAYERS, "default", {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    )
    channel_layers.backends.pop("default", None)
    worker = worker_module.relay_embedded_start()
    try:
        await asyncio.sleep(0.1)
        assert [w["worker_id"] for w in registry.workers()] == ["embedded"]
        reply = await worker.layer.new_channel()
        await worker.layer.send(
            worker.channel, {"type": "relay.bogus", "room_id": 1, "reply_to": reply}
        )
        message = await asyncio.wait_for(worker.layer.receive(reply), 3)
        assert message["code"] == "unknown_type"
    finally:
        worker.stop()
        await asyncio.sleep(0.1)
        channel_layers.backends.pop("default", None)


def test_the_relay_command_serves_on_uvloop_and_stops_on_sigterm() -> None:
    """A real `manage.py relay` process: it says which event loop it runs (uvloop unless
    --asyncio-loop) and exits cleanly on SIGTERM. In-memory registry and channel layer: no Redis
    shared with the other tests."""
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "PYTEST_CURRENT_TEST"}}
    for extra, loop_name in (([], "uvloop"), (["--asyncio-loop"], "asyncio")):
        process = subprocess.Popen(  # noqa: S603  (this project's manage.py, fixed arguments)
            [sys.executable, "manage.py", "relay", "--worker-id", "cmd-test", *extra],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert f"relay worker cmd-test listening on relay.cmd-test ({loop_name} loop)" in line
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0, process.stdout.read()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_the_relay_process_writes_json_lines_with_log_format_json() -> None:
    """What a deployed relay says, from start to SIGTERM, is JSON log lines (docs/operations.md,
    "Logs and errors")."""
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "PYTEST_CURRENT_TEST"}}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "relay", "--worker-id", "json-test"],
        cwd=settings.BASE_DIR,
        env={**env, "LOG_FORMAT": "json"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        assert first["logger"] == "media_relay.management.commands.relay"
        assert "relay worker json-test listening on relay.json-test" in first["message"]
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=20)
        assert process.returncode == 0, rest
        assert [line for line in rest.splitlines() if line.strip() and not _json(line)] == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _json(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
