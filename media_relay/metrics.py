"""A relay worker's figures in Prometheus' text format (docs/operations.md "Metrics").

`RelayCollector` turns workers' counters into metric families, labelled by worker id, when they
are read: a standalone worker (`manage.py relay`) serves them on its own HTTP port
(RELAY_METRICS_PORT, served on the worker's event loop, so nothing reads the rooms from another
thread); the embedded worker's join the web process's /metrics (registered at ready()).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from django.conf import settings
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from clubhouse.metrics import bearer_token_matches
from media_relay.candidates import ICE_CANDIDATE_TYPES, ICE_PATH_TYPES
from media_relay.signalling import relay_embedded_enabled

if TYPE_CHECKING:
    from media_relay.worker import RelayWorker

_COUNTERS = (
    ("packets_in", "RTP packets received from speakers."),
    ("packets_out", "RTP packets sent to listeners."),
    ("drops", "Speaker packets not forwarded (muted, not on stage, no free slot)."),
    ("send_skipped", "Packets not sent to a listener whose transport was not connected."),
)


class RelayCollector:
    def __init__(self, workers: Callable[[], Iterable[RelayWorker]]) -> None:
        self.workers = workers

    def collect(self) -> Iterator[Any]:
        labels = ["worker"]
        peers = GaugeMetricFamily("clubhouse_relay_peers", "Peer connections.", labels=labels)
        rooms = GaugeMetricFamily("clubhouse_relay_rooms", "Rooms on the worker.", labels=labels)
        counters = {
            key: CounterMetricFamily(f"clubhouse_relay_{key}", text, labels=labels)
            for key, text in _COUNTERS
        }
        cpu = CounterMetricFamily(
            "clubhouse_relay_cpu_seconds", "CPU time of the worker's process.", labels=labels
        )
        send_loop = HistogramMetricFamily(
            "clubhouse_relay_send_loop_seconds",
            "Time to fan one speaker packet out to every listener (rewrite, protect, send).",
            labels=labels,
        )
        pairs = GaugeMetricFamily(
            "clubhouse_relay_selected_pairs",
            "Peers by the candidate types of their selected ICE pair (relay: through TURN).",
            labels=[*labels, "local_type", "remote_type"],
        )
        connected = CounterMetricFamily(
            "clubhouse_relay_ice_connected",
            "Audio connections that connected, by the type of the member's candidate ICE chose "
            "(host, srflx, prflx; relay: through TURN).",
            labels=[*labels, "remote_type"],
        )
        failed = CounterMetricFamily(
            "clubhouse_relay_ice_failed",
            "Audio connections that never connected, once per candidate type the member offered "
            "(none: they offered none).",
            labels=[*labels, "offered_type"],
        )
        for worker in self.workers():
            figures = worker.metrics()
            for kind in ICE_PATH_TYPES:
                connected.add_metric([worker.worker_id, kind], figures[f"ice_connected_{kind}"])
            for kind in ICE_CANDIDATE_TYPES:
                failed.add_metric([worker.worker_id, kind], figures[f"ice_failed_{kind}"])
            name = [worker.worker_id]
            peers.add_metric(name, figures["peers"])
            rooms.add_metric(name, figures["rooms"])
            for key, family in counters.items():
                family.add_metric(name, figures[key])
            cpu.add_metric(name, figures["cpu_s"])
            bounds, seconds, buckets = worker.send_loop()
            cumulative, running = [], 0
            for bound, count in zip([*map(str, bounds), "+Inf"], buckets, strict=True):
                running += count
                cumulative.append((bound, running))
            send_loop.add_metric(name, cumulative, seconds)
            for (local, remote), count in Counter(worker.selected_candidate_types()).items():
                pairs.add_metric([*name, local, remote], count)
        yield from (peers, rooms, *counters.values(), cpu, send_loop, pairs, connected, failed)


def relay_embedded_collector() -> RelayCollector:
    """The embedded worker's figures, for the web's /metrics. The worker module (aiortc, the C
    send loop) is imported only when a scrape finds the embedded mode on, as
    `signalling.relay_embedded_ensure` does: a web process without it never loads them."""

    def embedded() -> list[RelayWorker]:
        if not relay_embedded_enabled():
            return []
        from media_relay.worker import relay_embedded_workers

        return relay_embedded_workers()

    return RelayCollector(embedded)


async def relay_metrics_serve(worker: RelayWorker, host: str, port: int) -> asyncio.Server:
    """`GET /metrics` on (host, port), on the worker's own loop. With METRICS_TOKEN set, the
    same bearer token as the web's /metrics is required (401 without it)."""
    collector = RelayCollector(lambda: [worker])

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body, content_type = await _respond(reader, collector)
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n"
            )
            if status.startswith("401"):
                head += 'WWW-Authenticate: Bearer realm="metrics"\r\n'
            writer.write(head.encode() + b"\r\n" + body)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass  # the scraper went away or sent something else than HTTP
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return await asyncio.start_server(answer, host, port)


async def _respond(
    reader: asyncio.StreamReader, collector: RelayCollector
) -> tuple[str, bytes, str]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, _, rest = request_line.partition(" ")
    path = rest.partition(" ")[0].partition("?")[0]
    headers = {}
    for line in header_lines:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    if method not in ("GET", "HEAD") or path != "/metrics":
        return "404 Not Found", b"Only GET /metrics is served here.\n", "text/plain"
    token = getattr(settings, "METRICS_TOKEN", "")
    if token and not bearer_token_matches(headers.get("authorization", ""), token):
        return "401 Unauthorized", b"A bearer token is required.\n", "text/plain"
    body = generate_latest(collector)
    return "200 OK", (b"" if method == "HEAD" else body), CONTENT_TYPE_LATEST
