"""A relay worker's metrics: on its own port (manage.py relay, RELAY_METRICS_PORT) and, for the
embedded worker, on the web's /metrics."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer
from django.conf import settings as django_settings
from django.test import AsyncClient

from media_relay import protocol
from media_relay import worker as worker_module
from media_relay.metrics import relay_metrics_serve
from media_relay.placement import MemoryRegistry
from media_relay.testing import ListenerClient, SpeakerClient, wait_for
from media_relay.worker import RelayWorker
from tests.media_relay.test_worker import ROOM, Web

from .conftest import parse, sample_value


async def http_get(
    address: tuple[str, int], path: str, token: str | None = None
) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection(*address)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: relay\r\n{auth}\r\n".encode())
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = raw.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


@pytest.fixture
async def relay(settings: Any) -> AsyncIterator[Web]:
    settings.METRICS_TOKEN = secrets.token_urlsafe(16)
    worker = RelayWorker(InMemoryChannelLayer(), worker_id="m1", registry=MemoryRegistry(), slots=3)
    server = await relay_metrics_serve(worker, "127.0.0.1", 0)  # as manage.py relay does
    task = asyncio.create_task(worker.run())
    web = Web(worker.layer, worker)
    web.metrics_address = server.sockets[0].getsockname()[:2]  # type: ignore[attr-defined]
    try:
        yield web
    finally:
        server.close()
        worker.stop()
        await asyncio.wait_for(task, 5)
        for client in web.clients:
            await client.close()


async def _speaker_and_listener(web: Web) -> ListenerClient:
    await web.send(protocol.RoomState(room_id=ROOM, speakers=(1,)))
    speaker = SpeakerClient()
    await web.join(1, speaker, await speaker.offer())
    listener = ListenerClient()
    await web.join(2, listener, await listener.offer())
    assert await wait_for(lambda: listener.tone_frames >= 15, 8.0)
    return listener


async def test_a_worker_with_peers_shows_them_and_their_packets_on_its_port(
    relay: Web, settings: Any
) -> None:
    address = relay.metrics_address  # type: ignore[attr-defined]
    assert address is not None
    status, body = await http_get(address, "/metrics", settings.METRICS_TOKEN)
    assert status == 200
    assert sample_value(parse(body), "clubhouse_relay_peers", worker="m1") == 0

    await _speaker_and_listener(relay)
    status, body = await http_get(address, "/metrics", settings.METRICS_TOKEN)
    families = parse(body)
    assert sample_value(families, "clubhouse_relay_peers", worker="m1") == 2
    received = sample_value(families, "clubhouse_relay_packets_in_total", worker="m1")
    sent = sample_value(families, "clubhouse_relay_packets_out_total", worker="m1")
    figures = relay.worker.metrics()
    assert 0 < received <= figures["packets_in"]
    assert 0 < sent <= figures["packets_out"]
    assert sample_value(families, "clubhouse_relay_cpu_seconds_total", worker="m1") > 0
    timed = sample_value(families, "clubhouse_relay_send_loop_seconds_count", worker="m1")
    assert 0 < timed <= received
    pairs = [s for s in families["clubhouse_relay_selected_pairs"] if s.labels["worker"] == "m1"]
    assert sum(s.value for s in pairs) == 2  # both peers, by their pair's candidate types
    assert all(s.labels["local_type"] in {"host", "srflx", "prflx", "relay"} for s in pairs)
    # every join counted once by the path its audio took: both loopback clients by their host
    assert sample_value(families, "clubhouse_relay_ice_connected_total", worker="m1",
                        remote_type="host") == 2  # fmt: skip
    assert sample_value(families, "clubhouse_relay_ice_connected_total", worker="m1",
                        remote_type="relay") == 0  # fmt: skip
    assert sample_value(families, "clubhouse_relay_ice_failed_total", worker="m1",
                        offered_type="host") == 0  # fmt: skip


async def test_the_relay_port_wants_the_metrics_token_and_serves_only_metrics(
    relay: Web, settings: Any
) -> None:
    address = relay.metrics_address  # type: ignore[attr-defined]
    assert address is not None
    assert (await http_get(address, "/metrics"))[0] == 401
    assert (await http_get(address, "/metrics", "wrong"))[0] == 401
    assert (await http_get(address, "/other", settings.METRICS_TOKEN))[0] == 404


@pytest.mark.django_db
async def test_the_embedded_workers_metrics_are_on_the_webs_metrics(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.METRICS_TOKEN = secrets.token_urlsafe(16)
    settings.REDIS_URL = ""  # the embedded worker alone in an in-process registry
    monkeypatch.setattr("media_relay.placement._memory", MemoryRegistry())
    monkeypatch.setattr(worker_module, "_embedded", None)
    from channels.layers import channel_layers

    monkeypatch.setitem(
        settings.CHANNEL_LAYERS, "default", {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    )
    channel_layers.backends.pop("default", None)
    worker = worker_module.relay_embedded_start()
    web = Web(worker.layer, worker)
    try:
        await wait_for(lambda: worker.registered.is_set(), 5.0)
        await _speaker_and_listener(web)
        response = await AsyncClient().get(
            "/metrics", headers={"Authorization": f"Bearer {settings.METRICS_TOKEN}"}
        )
        families = parse(response.content.decode())
        assert sample_value(families, "clubhouse_relay_peers", worker="embedded") == 2
        assert sample_value(families, "clubhouse_relay_packets_out_total", worker="embedded") > 0
    finally:
        worker.stop()
        await asyncio.sleep(0.2)
        for client in web.clients:
            await client.close()
        channel_layers.backends.pop("default", None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_manage_py_relay_serves_metrics_on_relay_metrics_port() -> None:
    """A real `manage.py relay` process with RELAY_METRICS_PORT (in-memory registry and layer:
    no Redis shared with other tests)."""
    port, token = _free_port(), secrets.token_urlsafe(16)
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "PYTEST_CURRENT_TEST"}}
    env.update(RELAY_METRICS_PORT=str(port), METRICS_TOKEN=token)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "relay", "--worker-id", "metrics-cmd"],
        cwd=django_settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "relay worker metrics-cmd listening" in process.stdout.readline()
        assert f"metrics on http://127.0.0.1:{port}/metrics" in process.stdout.readline()
        status, body = asyncio.run(http_get(("127.0.0.1", port), "/metrics", token))
        assert status == 200
        assert sample_value(parse(body), "clubhouse_relay_peers", worker="metrics-cmd") == 0
        assert "clubhouse_relay_packets_in_total" in body
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_metrics_port_out_of_range_is_refused_with_a_clear_error() -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="between 0 and 65535"):
        call_command("relay", "--metrics-port", "70000")
