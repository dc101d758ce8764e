"""`manage.py relay`: run one relay worker process until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
from typing import Any

import uvloop
from django.core.management.base import BaseCommand, CommandError

from clubhouse.logs import sentry_asyncio_enable
from media_relay import conf
from media_relay.metrics import relay_metrics_serve
from media_relay.worker import RelayWorker

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run a media relay worker (aiortc SFU) on the channel layer."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--worker-id", default=None, help="default: <host>-<pid>-<random>")
        parser.add_argument(
            "--asyncio-loop",
            action="store_true",
            help="run on asyncio's own event loop instead of uvloop",
        )
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=None,
            help="serve Prometheus metrics on this port (default: RELAY_METRICS_PORT; 0: any free one)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        _raise_open_files_limit()
        port = options["metrics_port"]
        if port is None:
            port = conf.metrics_port()
        if port is not None and not 0 <= port <= 65535:
            raise CommandError(f"The metrics port must be between 0 and 65535, not {port}.")
        if options["asyncio_loop"]:
            asyncio.run(self._run(options["worker_id"], port))
        else:
            # uvloop: every datagram reaches the relay's socket callback through less Python
            # (no selector object, no Handle per event); docs/benchmarks.md has the difference.
            uvloop.run(self._run(options["worker_id"], port))

    async def _run(self, worker_id: str | None, metrics_port: int | None) -> None:
        from channels.layers import get_channel_layer

        sentry_asyncio_enable()  # with SENTRY_DSN: errors in the worker's tasks reach Sentry
        worker = RelayWorker(get_channel_layer(), worker_id=worker_id)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.stop)
        loop_name = type(loop).__module__.split(".")[0]
        # A log line (JSON with LOG_FORMAT=json), like everything else the process says.
        logger.info(
            "relay worker %s listening on %s (%s loop)", worker.worker_id, worker.channel, loop_name
        )
        if metrics_port is None:
            await worker.run()
            return
        server = await relay_metrics_serve(worker, conf.metrics_host(), metrics_port)
        host, port = server.sockets[0].getsockname()[:2]
        self.stdout.write(
            f"relay worker {worker.worker_id} metrics on http://{host}:{port}/metrics"
        )
        try:
            await worker.run()
        finally:
            server.close()


def _raise_open_files_limit() -> None:
    """Each peer holds a UDP socket (and aiortc a few more descriptors): lift the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 65_536 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))
