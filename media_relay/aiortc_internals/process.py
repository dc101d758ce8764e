"""Process-wide changes to aiortc and aioice for the relay: `relay_process_setup` (once per relay
process, idempotent) makes joins and the receive path cheaper:

* one DTLS certificate and one OpenSSL context for every peer connection of the process (aiortc
  makes both per connection; Janus and mediasoup also use one certificate per process);
* the host's interface addresses cached for a few seconds (aioice enumerates every interface for
  every connection);
* the ICE sockets bound in `RELAY_UDP_PORT_MIN`..`RELAY_UDP_PORT_MAX` when set (aioice binds
  port 0 and has no range option): a firewall in front of the relay opens only that range;
* aiortc's per-packet `clock.current_ms()` computed from `time.time()` (the same value);
* `opus_enable_fec_dtx`: aiortc answers Opus with `useinbandfec=1;usedtx=1` (it copies its own
  codec parameters into answers, and has none by default).
"""

from __future__ import annotations

import asyncio
import datetime
import errno
import logging
import random
import time
import types
from typing import Any

import aioice.ice
from aiortc import clock
from aiortc.codecs import CODECS
from aiortc.rtcdtlstransport import RTCCertificate

from media_relay import conf
from media_relay.aiortc_internals.checks import AiortcInternalsError, check_process_internals

logger = logging.getLogger(__name__)

OPUS_PARAMETERS = {"useinbandfec": 1, "usedtx": 1}

# NTP epoch (1900) to Unix epoch (1970).
NTP_OFFSET = 2_208_988_800

# A shared certificate is replaced this long before it expires (aiortc makes them valid 30 days).
_CERTIFICATE_RENEW_BEFORE = datetime.timedelta(days=2)
HOST_ADDRESSES_TTL_S = 5.0
_setup_done = False


def relay_process_setup() -> None:
    """Idempotent, process-wide: Opus FEC/DTX, a shared DTLS certificate and SSL context, and
    cached host addresses (see the module docstring). Call it before creating peer connections."""
    global _setup_done
    opus_enable_fec_dtx()
    if _setup_done:
        return
    check_process_internals()
    _share_dtls_certificate()
    _cache_host_addresses()
    _bind_in_port_range()
    _fast_clock()
    _setup_done = True


def _share_dtls_certificate() -> None:
    generate = RTCCertificate.generateCertificate.__func__  # type: ignore[attr-defined]
    create_context = RTCCertificate._create_ssl_context
    shared: list[RTCCertificate] = []
    contexts: dict[tuple[bytes, ...], Any] = {}

    def generate_shared(cls: type[RTCCertificate]) -> RTCCertificate:
        now = datetime.datetime.now(datetime.UTC)
        if not shared or shared[0].expires - now < _CERTIFICATE_RENEW_BEFORE:
            shared[:] = [generate(cls)]
            contexts.clear()
        return shared[0]

    def context_shared(self: RTCCertificate, srtp_profiles: list[Any]) -> Any:
        # The context holds only the certificate, key, ciphers and SRTP profiles, all the same
        # for every connection; per-connection state lives in each SSL.Connection.
        if not shared or self is not shared[0]:  # a certificate made some other way
            return create_context(self, srtp_profiles)
        key = tuple(p.openssl_profile for p in srtp_profiles)
        ctx = contexts.get(key)
        if ctx is None:
            ctx = contexts[key] = create_context(self, srtp_profiles)
        return ctx

    RTCCertificate.generateCertificate = classmethod(generate_shared)  # type: ignore[method-assign, assignment]
    RTCCertificate._create_ssl_context = context_shared  # type: ignore[method-assign]


def _fast_clock() -> None:
    """aiortc stamps every received packet with `clock.current_ms()` (milliseconds since the NTP
    epoch), computed through timezone-aware datetime arithmetic; the same from time.time()."""
    offset_ms = NTP_OFFSET * 1000

    def current_ms() -> int:
        return int(time.time() * 1000) + offset_ms

    clock.current_ms = current_ms


def _cache_host_addresses() -> None:
    original = aioice.ice.get_host_addresses
    cache: dict[tuple[bool, bool], tuple[float, list[str]]] = {}

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        now = time.monotonic()
        hit = cache.get((use_ipv4, use_ipv6))
        if hit is None or now - hit[0] > HOST_ADDRESSES_TTL_S:
            hit = cache[(use_ipv4, use_ipv6)] = (now, original(use_ipv4, use_ipv6))
        return list(hit[1])

    aioice.ice.get_host_addresses = get_host_addresses


class _PortRangeLoop:
    """The running loop as aioice.ice sees it: `create_datagram_endpoint` for a socket on port 0
    (a host candidate's) binds a free port of the configured range instead, starting at a
    random one; everything else is the loop's own."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)

    async def create_datagram_endpoint(
        self, factory: Any, local_addr: tuple[str, int] | None = None, **kwargs: Any
    ) -> Any:
        ports = conf.udp_port_range()
        if ports is None or local_addr is None or local_addr[1] != 0:
            return await self._loop.create_datagram_endpoint(
                factory, local_addr=local_addr, **kwargs
            )
        low, high = ports
        count = high - low + 1
        start = random.randrange(count)
        for step in range(count):
            port = low + (start + step) % count
            try:
                return await self._loop.create_datagram_endpoint(
                    factory, local_addr=(local_addr[0], port), **kwargs
                )
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
        logger.warning(
            "relay: every UDP port of RELAY_UDP_PORT_MIN..MAX (%d-%d) on %s is in use; "
            "widen the range (a peer connection uses one port per interface address)",
            low,
            high,
            local_addr[0],
        )
        raise OSError(errno.EADDRINUSE, f"no free UDP port in {low}-{high} on {local_addr[0]}")


def _bind_in_port_range() -> None:
    """aioice.ice calls `asyncio.get_running_loop().create_datagram_endpoint(..., local_addr=
    (address, 0))` for each host candidate: its module's `asyncio` becomes one whose running
    loop binds in the range (read per call, so a changed setting applies to new connections)."""
    real = aioice.ice.asyncio

    class _Asyncio(types.ModuleType):
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    shim = _Asyncio("asyncio")
    shim.get_running_loop = lambda: _PortRangeLoop(real.get_running_loop())  # type: ignore[attr-defined]
    aioice.ice.asyncio = shim


def opus_enable_fec_dtx() -> None:
    """Make this process's aiortc offer and answer Opus with in-band FEC and DTX."""
    for codec in CODECS["audio"]:
        if codec.mimeType.lower() == "audio/opus":
            codec.parameters.update(OPUS_PARAMETERS)
            return
    raise AiortcInternalsError("aiortc.codecs.CODECS['audio'] has no Opus entry")
