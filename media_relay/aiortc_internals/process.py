"""Process-wide changes to aiortc and aioice for the relay: `relay_process_setup` (once per relay
process, idempotent) makes joins and the receive path cheaper:

* one DTLS certificate and one OpenSSL context for every peer connection of the process (aiortc
  makes both per connection; Janus and mediasoup also use one certificate per process);
* the host's interface addresses cached for a few seconds (aioice enumerates every interface for
  every connection);
* aiortc's per-packet `clock.current_ms()` computed from `time.time()` (the same value);
* `opus_enable_fec_dtx`: aiortc answers Opus with `useinbandfec=1;usedtx=1` (it copies its own
  codec parameters into answers, and has none by default).
"""

from __future__ import annotations

import datetime
import time
from typing import Any

import aioice.ice
from aiortc import clock
from aiortc.codecs import CODECS
from aiortc.rtcdtlstransport import RTCCertificate

from media_relay.aiortc_internals.checks import AiortcInternalsError, check_process_internals

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


def opus_enable_fec_dtx() -> None:
    """Make this process's aiortc offer and answer Opus with in-band FEC and DTX."""
    for codec in CODECS["audio"]:
        if codec.mimeType.lower() == "audio/opus":
            codec.parameters.update(OPUS_PARAMETERS)
            return
    raise AiortcInternalsError("aiortc.codecs.CODECS['audio'] has no Opus entry")
