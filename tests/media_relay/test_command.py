"""`manage.py relay` and the embedded worker start."""

from __future__ import annotations

import asyncio

import pytest
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
