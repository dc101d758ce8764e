"""Every use of aiortc's private internals, in one place (aiortc==1.16.0 is pinned for this).

The relay forwards encoded RTP without decoding, which aiortc has no public API for:

* `tap_receiver` replaces an `RTCRtpReceiver`'s per-packet handler on the instance, so a speaker's
  decrypted RTP packets reach the relay *before* the jitter buffer and decoder. It keeps feeding
  the receiver's RTCP statistics, so aiortc still sends receiver reports to the speaker.
* `SocketDemux` (one per DTLS transport) takes what the relay receives most out of aiortc's
  receive path (aioice queue → DTLS task → router, a task wake-up and several awaits per packet)
  and handles it in the socket's `datagram_received` callback: a speaker's RTP once
  `DirectReceive` learned its SSRC (unprotect, `parse_rtp`, deliver), and SRTCP (aiortc's own
  router and handlers, run to completion).
* `RtpOutlet` sends a pre-built RTP packet through a listener's SRTP session and selected ICE pair
  synchronously (no task, no await per packet), with that listener's negotiated SSRC, payload
  type and header extension ids, and keeps the sender's counters true so its RTCP sender reports
  are right. With the C send loop built (`media_relay.fastpath`), the outlet hands its libsrtp
  context, socket and remote address to its C target when the DTLS transport connects
  (`srtp_protect_address`, `srtp_context_address`: pylibsrtp's own binding) and the Forwarder
  sends through that.
* `RtpOutlet` also replaces the sender's RTCP task (aiortc runs one per sender, waking every
  0.5-1.5 s to send a sender report): the room's periodic tick sends each listener's sender report
  itself, synchronously and at WebRTC's audio interval (about 5 s), and the task only sends the BYE
  when aiortc stops the sender.
* `relay_process_setup` (once per relay process) makes joins cheaper: one DTLS certificate and
  one OpenSSL context for every peer connection of the process (aiortc makes both per connection;
  Janus and mediasoup also use one certificate per process), and the host's interface addresses
  cached for a few seconds (aioice enumerates every interface for every connection).
* `opus_enable_fec_dtx` makes aiortc answer Opus with `useinbandfec=1;usedtx=1` (it copies its own
  codec parameters into answers, and has none by default).

`check_internals()` names every attribute used here; tests/media_relay/test_aiortc_internals.py
calls it and exercises each path, so an aiortc upgrade that moves any of them fails loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import random
import struct
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc import MediaStreamTrack, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.codecs import CODECS
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsTransport, State
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import (
    HeaderExtensions,
    HeaderExtensionsMap,
    RtcpByePacket,
    RtcpPacket,
    RtcpSdesPacket,
    RtcpSourceInfo,
    RtpPacket,
)

logger = logging.getLogger(__name__)

AIORTC_VERSION = "1.16.0"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
OPUS_PARAMETERS = {"useinbandfec": 1, "usedtx": 1}

# Name-mangled private attributes this module reads or writes.
_RX_STREAMS = "_RTCRtpReceiver__remote_streams"
_RX_CODECS = "_RTCRtpReceiver__codecs"
_TX_PACKETS = "_RTCRtpSender__packet_count"
_TX_OCTETS = "_RTCRtpSender__octet_count"
_TX_RTP_TS = "_RTCRtpSender__rtp_timestamp"
_TX_NTP_TS = "_RTCRtpSender__ntp_timestamp"
_TX_LSR = "_RTCRtpSender__lsr"
_TX_LSR_TIME = "_RTCRtpSender__lsr_time"
_TX_CNAME = "_RTCRtpSender__cname"
_TX_RTCP_STARTED = "_RTCRtpSender__rtcp_started"
_TX_RTCP_EXITED = "_RTCRtpSender__rtcp_exited"
_DTLS_RX_BYTES = "_RTCDtlsTransport__rx_bytes"
_DTLS_RX_PACKETS = "_RTCDtlsTransport__rx_packets"
_EXT_IDS = "_HeaderExtensionsMap__ids"
_RX_DIRECT = "_relay_direct_receive"  # ours, on the tapped receiver instance

_SRTP_MAX_TRAILER_LEN = 144  # pylibsrtp.SRTP_MAX_TRAILER_LEN
_SRTCP_MAX_TRAILER_LEN = 148  # pylibsrtp.SRTP_MAX_SRTCP_TRAILER_LEN

# WebRTC's report interval for audio streams (Chrome's RTCP sender uses 5 s for audio); each
# report is scheduled 0.5-1.5 times this after the previous one (RFC 3550 6.3.1 randomisation).
SENDER_REPORT_INTERVAL_S = 5.0
_SR = struct.Struct("!BBHIIIIII")  # RTCP SR header + sender info, no report blocks

# NTP epoch (1900) to Unix epoch (1970).
_NTP_OFFSET = 2_208_988_800

_CONNECTED = State.CONNECTED
# libsrtp 2.x's signature, as pylibsrtp==1.0.0 declares it (media_relay/fastpath.c calls it).
_SRTP_PROTECT_TYPE = "<ctype 'srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)'>"

PacketHandler = Callable[[RtpPacket, int], None]


class AiortcInternalsError(RuntimeError):
    """aiortc no longer looks the way this module needs; see the message for the attribute."""


def check_internals(
    receiver: RTCRtpReceiver | None = None, sender: RTCRtpSender | None = None
) -> None:
    """Raise AiortcInternalsError naming the first missing internal (class-level, or on instances)."""
    import aiortc

    if aiortc.__version__ != AIORTC_VERSION:
        raise AiortcInternalsError(
            f"media_relay.aiortc_internals was written for aiortc=={AIORTC_VERSION}, "
            f"found {aiortc.__version__}: re-check every internal before unpinning"
        )
    for owner, name in (
        (RTCRtpReceiver, "_handle_rtp_packet"),
        (RTCRtpSender, "_run_rtcp"),
        (RTCRtpSender, "_send_rtcp"),
        (RTCDtlsTransport, "_send_rtp"),
        (StreamStatistics, "add"),
    ):
        if not callable(getattr(owner, name, None)):
            raise AiortcInternalsError(f"aiortc {owner.__name__}.{name} is gone")
    import aioice.ice

    if not callable(getattr(aioice.ice.StunProtocol, "datagram_received", None)):
        raise AiortcInternalsError("aioice StunProtocol.datagram_received is gone")
    if not callable(getattr(RtpPacket, "parse", None)):
        raise AiortcInternalsError("aiortc RtpPacket.parse is gone")
    if receiver is not None:
        for name in (_RX_STREAMS, _RX_CODECS):
            if not isinstance(getattr(receiver, name, None), dict):
                raise AiortcInternalsError(f"aiortc RTCRtpReceiver.{name} (a dict) is gone")
        dtls = receiver.transport
        for name in (_DTLS_RX_BYTES, _DTLS_RX_PACKETS):
            if not isinstance(getattr(dtls, name, None), int):
                raise AiortcInternalsError(f"aiortc RTCDtlsTransport.{name} (an int) is gone")
        for name in ("_rx_srtp", "_rtp_header_extensions_map", "_rtp_router"):
            if not hasattr(dtls, name):
                raise AiortcInternalsError(f"aiortc RTCDtlsTransport.{name} is gone")
        ids = getattr(dtls._rtp_header_extensions_map, _EXT_IDS, None)
        if not isinstance(ids, HeaderExtensions):
            raise AiortcInternalsError(f"aiortc HeaderExtensionsMap.{_EXT_IDS} is gone")
        ice = getattr(dtls.transport, "_connection", None)
        if ice is None or not isinstance(getattr(ice, "_protocols", None), list):
            raise AiortcInternalsError("aioice Connection._protocols (via ICE transport) is gone")
    if sender is not None:
        for name in (_TX_PACKETS, _TX_OCTETS, _TX_RTP_TS, _TX_NTP_TS):
            if not isinstance(getattr(sender, name, None), int):
                raise AiortcInternalsError(f"aiortc RTCRtpSender.{name} (an int) is gone")
        for name in (_TX_RTCP_STARTED, _TX_RTCP_EXITED):
            if not isinstance(getattr(sender, name, None), asyncio.Event):
                raise AiortcInternalsError(f"aiortc RTCRtpSender.{name} (an Event) is gone")
        for name in (_TX_LSR, _TX_LSR_TIME, _TX_CNAME):
            if not hasattr(sender, name):
                raise AiortcInternalsError(f"aiortc RTCRtpSender.{name} is gone")
        dtls = sender.transport
        for name in ("_tx_srtp", "_state"):
            if not hasattr(dtls, name):
                raise AiortcInternalsError(f"aiortc RTCDtlsTransport.{name} is gone")
        for name in ("_srtp", "_cdata", "_buffer"):
            session = getattr(dtls, "_tx_srtp", None)
            if session is not None and not hasattr(session, name):
                raise AiortcInternalsError(f"pylibsrtp Session.{name} is gone")
        ice = getattr(dtls.transport, "_connection", None)
        if ice is None or not isinstance(getattr(ice, "_nominated", None), dict):
            raise AiortcInternalsError("aioice Connection._nominated (via ICE transport) is gone")


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


def check_process_internals() -> None:
    """What `relay_process_setup` replaces must be where it expects it."""
    import aioice.ice

    generate = getattr(RTCCertificate, "generateCertificate", None)
    if not callable(generate):
        raise AiortcInternalsError("aiortc RTCCertificate.generateCertificate is gone")
    if not callable(getattr(RTCCertificate, "_create_ssl_context", None)):
        raise AiortcInternalsError("aiortc RTCCertificate._create_ssl_context is gone")
    if not callable(getattr(aioice.ice, "get_host_addresses", None)):
        raise AiortcInternalsError("aioice.ice.get_host_addresses is gone")
    from aiortc import clock

    if not callable(getattr(clock, "current_ms", None)):
        raise AiortcInternalsError("aiortc.clock.current_ms is gone")


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
    from aiortc import clock

    offset_ms = _NTP_OFFSET * 1000

    def current_ms() -> int:
        return int(time.time() * 1000) + offset_ms

    clock.current_ms = current_ms


def _cache_host_addresses() -> None:
    import aioice.ice

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


def transceiver_offer_direction(transceiver: RTCRtpTransceiver) -> str | None:
    """The direction the remote offer asked for this m-line (from the offerer's point of view)."""
    # aiortc stores it reversed, as seen from the answerer ("recvonly" for an offered "sendonly").
    value = getattr(transceiver, "_offerDirection", None)
    if not isinstance(value, str):
        return None
    return {"sendonly": "recvonly", "recvonly": "sendonly"}.get(value, value)


def tap_receiver(receiver: RTCRtpReceiver, on_packet: PacketHandler) -> None:
    """Route this receiver's decrypted RTP packets to on_packet(packet, arrival_ms), undecoded.

    RTCP receiver reports keep working: the per-SSRC statistics aiortc reports from are fed here.
    Call before the DTLS handshake completes (right after setRemoteDescription).

    The first packets take aiortc's path (ICE → queue → DTLS task → unprotect → router → the
    receiver); each one teaches `DirectReceive` its SSRC, and from then on that SSRC's packets
    are unprotected, parsed and handed over inside the socket's `datagram_received` callback
    (see `DirectReceive`). Everything else (DTLS, RTCP, STUN, unknown SSRCs) keeps aiortc's path.
    """
    check_internals(receiver=receiver)
    streams: dict[int, StreamStatistics] = getattr(receiver, _RX_STREAMS)
    codecs: dict[int, Any] = getattr(receiver, _RX_CODECS)

    def deliver(packet: RtpPacket, arrival_time_ms: int) -> None:
        codec = codecs.get(packet.payload_type)
        if codec is None:
            return
        stats = streams.get(packet.ssrc)
        if stats is None:
            stats = streams[packet.ssrc] = StreamStatistics(codec.clockRate)
        stats.add(packet)
        on_packet(packet, arrival_time_ms)

    direct = DirectReceive(receiver, deliver)
    setattr(receiver, _RX_DIRECT, direct)

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        deliver(packet, arrival_time_ms)
        # aiortc's router gave this SSRC to this receiver: take its next packets directly.
        direct.learn(packet.ssrc)

    # The DTLS transport's router calls `receiver._handle_rtp_packet(...)`; an instance attribute
    # shadows the method, so the jitter buffer and the decoder thread never see a packet.
    receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]


def untap_receiver(receiver: RTCRtpReceiver) -> None:
    """Drop every packet this receiver gets from now on (the publisher was closed)."""
    direct = getattr(receiver, _RX_DIRECT, None)
    if isinstance(direct, DirectReceive):
        direct.close()

    async def drop(packet: RtpPacket, arrival_time_ms: int) -> None:
        return None

    receiver._handle_rtp_packet = drop  # type: ignore[method-assign]


class DirectReceive:
    """A publisher's RTP, from the socket callback straight to the relay, synchronously.

    aiortc's receive path per packet: aioice's `StunProtocol.datagram_received` tries to parse
    every datagram as STUN (an exception per media packet), queues it; the DTLS transport's task
    wakes up (a future, a loop turn), unprotects, parses, routes, and awaits the receiver's
    handler. At 10 listeners that was most of the relay's CPU per inbound packet.

    Once `learn(ssrc)` saw an SSRC routed to this receiver, the transport's `SocketDemux` takes
    that SSRC's packets in the socket callback: unprotected with the transport's own receiving
    SRTP session (same replay window and keys as aiortc's path), parsed (`parse_rtp`), counted in
    the transport's statistics and given to `deliver`. A packet that fails authentication or
    parsing is dropped, as aiortc drops it. `close()` gives the SSRCs back to aiortc's path.
    """

    __slots__ = ("_deliver", "_demux", "_receiver", "_ssrcs", "closed")

    def __init__(self, receiver: RTCRtpReceiver, deliver: PacketHandler) -> None:
        self._receiver = receiver
        self._deliver = deliver
        self._demux: SocketDemux | None = None
        self._ssrcs: set[bytes] = set()
        self.closed = False

    @property
    def ssrcs(self) -> set[int]:
        return {int.from_bytes(b, "big") for b in self._ssrcs}

    def learn(self, ssrc: int) -> bool:
        """Take this SSRC's packets directly from now on. False if not possible (yet)."""
        if self.closed:
            return False
        key = ssrc.to_bytes(4, "big")
        if key in self._ssrcs:
            return True
        demux = self._demux or socket_demux(self._receiver.transport)
        if demux is None:
            return False
        self._demux = demux
        demux.media[key] = self._deliver
        self._ssrcs.add(key)
        return True

    def close(self) -> None:
        """Give this receiver's SSRCs back to aiortc's path (the publisher was closed)."""
        self.closed = True
        if self._demux is not None:
            for key in self._ssrcs:
                self._demux.media.pop(key, None)
        self._ssrcs.clear()


_DEMUX = "_relay_socket_demux"  # ours, on the RTCDtlsTransport instance


def socket_demux(dtls: RTCDtlsTransport) -> SocketDemux | None:
    """The transport's `SocketDemux`, installed on first use; None before its SRTP keys exist."""
    demux = getattr(dtls, _DEMUX, None)
    if demux is None:
        if getattr(dtls, "_rx_srtp", None) is None:
            return None
        connection = getattr(getattr(dtls, "transport", None), "_connection", None)
        if not getattr(connection, "_protocols", None):
            return None
        demux = SocketDemux(dtls)
        setattr(dtls, _DEMUX, demux)
    return demux


class SocketDemux:
    """Shadows `datagram_received` on each socket protocol of one connection's ICE transport and
    handles, synchronously in the socket callback, what the relay receives most:

    * SRTP from an SSRC in `media` (registered by `DirectReceive`): unprotect, `parse_rtp`,
      deliver;
    * SRTCP (RTCP demultiplexed as aiortc does: second byte 192-208): unprotect, parse, route
      with the transport's own router and run aiortc's own handlers (a listener's receiver
      reports feed the relay sender's statistics; a speaker's sender reports feed the receiver's
      LSR/DLSR for the reports the relay sends back). aiortc's handlers for these do not await
      (`test_aiortcs_rtcp_handlers_complete_without_awaiting`); one that does is finished as a
      task, so nothing is lost even then.

    Everything else (STUN, DTLS, RTP of an unknown SSRC, anything before the SRTP keys exist)
    goes to aioice's callback unchanged. The transport's receive counters are kept.
    """

    __slots__ = ("media",)

    def __init__(self, dtls: RTCDtlsTransport) -> None:
        import pylibsrtp

        self.media: dict[bytes, PacketHandler] = {}
        session = dtls._rx_srtp
        unprotect = fast_unprotect(session)
        unprotect_rtcp = fast_unprotect(session, rtcp=True)
        extensions_map = dtls._rtp_header_extensions_map
        ids = getattr(extensions_map, _EXT_IDS)  # updated in place if aiortc reconfigures
        router = dtls._rtp_router
        media = self.media
        offset_ms = _NTP_OFFSET * 1000
        now = time.time
        srtp_error = pylibsrtp.Error
        rtcp_parse = RtcpPacket.parse

        def count(n: int) -> None:
            setattr(dtls, _DTLS_RX_BYTES, getattr(dtls, _DTLS_RX_BYTES) + n)
            setattr(dtls, _DTLS_RX_PACKETS, getattr(dtls, _DTLS_RX_PACKETS) + 1)

        def rtcp(data: bytes) -> None:
            count(len(data))
            try:
                packets = rtcp_parse(unprotect_rtcp(data))
            except (srtp_error, ValueError):
                return
            for packet in packets:
                for recipient in router.route_rtcp(packet):
                    try:
                        run_to_completion(recipient._handle_rtcp_packet(packet))
                    except Exception:  # never let one report close the socket
                        logger.exception("RTCP handler failed")

        connection = dtls.transport._connection
        for protocol in connection._protocols:
            original = protocol.datagram_received

            def datagram_received(
                data: bytes, addr: tuple[Any, ...], original: Callable[..., None] = original
            ) -> None:
                if 127 < data[0] < 192:
                    if 191 < data[1] < 209:
                        rtcp(data)
                        return
                    deliver = media.get(data[8:12])
                    if deliver is not None:
                        count(len(data))
                        arrival_ms = int(now() * 1000) + offset_ms
                        try:
                            packet = parse_rtp(unprotect(data), extensions_map, ids)
                        except (srtp_error, ValueError):
                            return
                        try:
                            deliver(packet, arrival_ms)
                        except Exception:  # asyncio would close the socket on an exception
                            logger.exception("relay packet handler failed")
                        return
                original(data, addr)

            protocol.datagram_received = datagram_received  # type: ignore[method-assign, assignment]


def run_to_completion(coro: Any) -> None:
    """Run an aiortc handler coroutine now; if it awaits something, finish it as a task."""
    try:
        waiting = coro.send(None)
    except StopIteration:
        return
    asyncio.get_running_loop().create_task(_finish(coro, waiting))


async def _finish(coro: Any, waiting: Any) -> None:
    # What a task does with a coroutine that yielded: wait for the future it yielded, resume it.
    while True:
        if isinstance(waiting, asyncio.Future):
            await asyncio.wait({waiting})
        else:
            await asyncio.sleep(0)
        try:
            waiting = coro.send(None)
        except StopIteration:
            return


_RTP_FIXED = struct.Struct("!BBHII")
_RTP_EXT_HEAD = struct.Struct("!HH")


def parse_rtp(data: bytes, extensions_map: HeaderExtensionsMap, ids: HeaderExtensions) -> RtpPacket:
    """`RtpPacket.parse` for the relay's receive path: the same fields and the same ValueError on
    a malformed packet, but of one-byte header extensions (RFC 8285; what browsers and aiortc
    send for audio) only the audio level is decoded, the one extension the relay reads. `ids`
    is the map's negotiated ids (`HeaderExtensionsMap.__ids`). Other profiles go through the map.
    """
    n = len(data)
    if n < 12:
        raise ValueError("RTP packet length is less than 12 bytes")
    b0, b1, seq, ts, ssrc = _RTP_FIXED.unpack_from(data)
    if b0 >> 6 != 2:
        raise ValueError("RTP packet has invalid version")
    cc = b0 & 0x0F
    pos = 12 + 4 * cc
    if n < pos:
        raise ValueError("RTP packet has truncated CSRC")
    packet = RtpPacket(b1 & 0x7F, b1 >> 7, seq, ts, ssrc)
    if cc:
        packet.csrc = list(struct.unpack_from(f"!{cc}I", data, 12))
    if b0 & 0x10:
        if n < pos + 4:
            raise ValueError("RTP packet has truncated extension profile / length")
        profile, words = _RTP_EXT_HEAD.unpack_from(data, pos)
        pos += 4
        end = pos + 4 * words
        if n < end:
            raise ValueError("RTP packet has truncated extension value")
        if profile == 0xBEDE:
            level_id = ids.audio_level
            i = pos
            while i < end:
                byte = data[i]
                if byte == 0:  # padding
                    i += 1
                    continue
                x_end = i + 2 + (byte & 0x0F)
                if x_end > end:
                    raise ValueError("RTP one-byte header extension value is truncated")
                if byte >> 4 == level_id:
                    value = data[i + 1]
                    packet.extensions.audio_level = (value & 0x80 == 0x80, value & 0x7F)
                i = x_end
        else:
            packet.extensions = extensions_map.get(profile, data[pos:end])
        pos = end
    if b0 & 0x20:
        padding = data[-1]
        if not padding or padding > n - pos:
            raise ValueError("RTP packet padding length is invalid")
        packet.padding_size = padding
        packet.payload = data[pos:-padding]
    else:
        packet.payload = data[pos:]
    return packet


class IdleAudioTrack(MediaStreamTrack):
    """A sender track that never yields a frame: the relay writes RTP underneath the sender.

    aiortc's sender loop polls every 20 ms when it has no track; blocking here instead costs
    nothing per listener.
    """

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._stopped = asyncio.Event()

    async def recv(self) -> Any:
        await self._stopped.wait()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self._stopped.set()


@dataclass(frozen=True)
class SendProfile:
    """What a listener's m-line negotiated: the outgoing packet layout the relay must build."""

    payload_type: int
    clock_rate: int
    audio_level_id: int  # 0 when not negotiated


def sender_profile(transceiver: RTCRtpTransceiver) -> SendProfile:
    codecs = getattr(transceiver, "_codecs", None)
    extensions = getattr(transceiver, "_headerExtensions", None)
    if not codecs or extensions is None:
        raise AiortcInternalsError(
            "aiortc RTCRtpTransceiver._codecs/_headerExtensions missing or empty "
            "(call after setLocalDescription of the answer)"
        )
    codec = codecs[0]
    level_id = next((x.id for x in extensions if x.uri == AUDIO_LEVEL_URI), 0)
    return SendProfile(codec.payloadType, codec.clockRate, level_id)


class RtpOutlet:
    """Sends ready-made RTP packets as one listener's sender (its SSRC, its SRTP session).

    Also this sender's RTCP sender reports: aiortc's per-sender RTCP task is replaced (see
    `_run_rtcp`) and `sync_sender_report`, called from the room's periodic tick, sends one when
    due. Per packet, `send` does the minimum: one SRTP protect on the session's own buffer and one
    `sendto` on the ICE pair's socket.
    """

    __slots__ = (
        "__weakref__",
        "_addr",
        "_dtls",
        "_interval_s",
        "_next_report",
        "_octets",
        "_packets",
        "_protect",
        "_protect_rtcp",
        "_sdes",
        "_sendto",
        "fast_target",
        "reports",
        "sender",
        "ssrc",
    )

    def __init__(
        self, sender: RTCRtpSender, report_interval_s: float = SENDER_REPORT_INTERVAL_S
    ) -> None:
        check_internals(sender=sender)
        self.sender = sender
        self.ssrc: int = sender._ssrc
        self._dtls: RTCDtlsTransport = sender.transport
        self._protect: Callable[[bytes], bytes] | None = None
        self._protect_rtcp: Callable[[bytes], bytes] | None = None
        self._sendto: Callable[[bytes, Any], None] | None = None
        self._addr: Any = None
        self._sdes: bytes | None = None
        self._interval_s = report_interval_s
        self._next_report = 0.0  # the first report goes out with the first tick after media
        self._packets = 0
        self._octets = 0
        self.reports = 0
        # The C send loop's view of this sender (media_relay.fastpath), or None without it. The
        # Forwarder sends through it; it is enabled while the DTLS transport is connected.
        self.fast_target: Any = None
        from media_relay import fastpath

        if fastpath.available():
            self.fast_target = fastpath.new_target(-1)
            # A weak reference: the transport's emitter must not keep a closed peer's outlet.
            outlet = weakref.ref(self)

            def on_state() -> None:
                alive = outlet()
                if alive is not None:
                    alive._dtls_state_changed()

            self._dtls.on("statechange", on_state)
            if self._dtls._state is _CONNECTED:
                self._resolve()
        # aiortc calls `self._run_rtcp()` when the sender starts: the instance attribute shadows
        # its method, so no per-sender task wakes every second.
        sender._run_rtcp = self._run_rtcp  # type: ignore[method-assign]

    @property
    def packets(self) -> int:
        """RTP packets sent (what this sender's RTCP sender reports count)."""
        target = self.fast_target
        return self._packets if target is None else self._packets + int(target.packets)

    @property
    def octets(self) -> int:
        target = self.fast_target
        return self._octets if target is None else self._octets + int(target.octets)

    def _dtls_state_changed(self) -> None:
        """Enable the C target when the transport connects, disable it when it leaves that
        state (closed, failed): the C loop then skips this listener without asking Python."""
        from media_relay import fastpath

        if self._dtls._state is _CONNECTED:
            self._resolve()
        elif self.fast_target is not None:
            fastpath.target_disable(self.fast_target)

    def _resolve(self) -> bool:
        dtls = self._dtls
        self._protect = None
        target = self.fast_target
        if target is not None:
            from media_relay import fastpath

            fastpath.target_disable(target)
        if dtls._state is not _CONNECTED:
            return False
        pair = dtls.transport._connection._nominated.get(1)
        if pair is None or pair.protocol.transport is None:
            return False
        self._protect = fast_protect(dtls._tx_srtp)
        self._protect_rtcp = fast_protect(dtls._tx_srtp, rtcp=True)
        socket_demux(dtls)  # this listener's receiver reports: handled in the socket callback
        sock = getattr(pair.protocol.transport, "_sock", None)
        # The raw socket, not asyncio's transport: no per-call checks, and a full send buffer
        # drops this packet (right for real-time audio) instead of queueing it behind others.
        self._sendto = sock.sendto if sock is not None else pair.protocol.transport.sendto
        self._addr = pair.remote_addr
        if target is not None:
            from media_relay import fastpath

            fd = pair.protocol.transport.get_extra_info("socket").fileno()
            if not fastpath.target_set(
                target, srtp_context_address(dtls._tx_srtp), fd, self._addr, self.ssrc
            ):
                logger.warning("relay C send loop: unusable remote address %r", self._addr)
        return True

    def send(self, packet: bytes, payload_octets: int) -> bool:
        """Protect and send one RTP packet now. False when the transport is not connected."""
        target = self.fast_target
        if target is not None:
            from media_relay import fastpath

            if target.fd < 0 and (self._dtls._state is not _CONNECTED or not self._resolve()):
                return False
            return fastpath.send_one(target, packet, payload_octets)
        protect = self._protect
        if protect is None or self._dtls._state is not _CONNECTED:
            if not self._resolve():
                return False
            protect = self._protect
            assert protect is not None
        try:
            self._sendto(protect(packet), self._addr)  # type: ignore[misc]
        except OSError:
            return False
        self._packets += 1
        self._octets += payload_octets
        return True

    def sync_sender_report(self, rtp_timestamp: int, unix_time: float) -> None:
        """Give aiortc this sender's counters and clock pair (its getStats reads them), and send
        an RTCP sender report + SDES CNAME when one is due (every ~5 s, randomised)."""
        sender = self.sender
        packets, octets = self.packets & 0xFFFFFFFF, self.octets & 0xFFFFFFFF
        ntp = int((unix_time + _NTP_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF
        setattr(sender, _TX_PACKETS, packets)
        setattr(sender, _TX_OCTETS, octets)
        setattr(sender, _TX_RTP_TS, rtp_timestamp)
        setattr(sender, _TX_NTP_TS, ntp)
        now = time.monotonic()
        if now < self._next_report:
            return
        self._next_report = now + self._interval_s * (0.5 + random.random())
        protect = self._protect_rtcp
        if protect is None or self._dtls._state is not _CONNECTED:
            if not self._resolve():
                return
            protect = self._protect_rtcp
            assert protect is not None
        report = _SR.pack(
            0x80, 200, 6, self.ssrc, ntp >> 32, ntp & 0xFFFFFFFF, rtp_timestamp, packets, octets
        )
        try:
            self._sendto(protect(report + self._sdes_chunk()), self._addr)  # type: ignore[misc]
        except OSError:
            return
        self.reports += 1
        # What aiortc's own loop records, so the round-trip time from receiver reports stays true.
        setattr(sender, _TX_LSR, (ntp >> 16) & 0xFFFFFFFF)
        setattr(sender, _TX_LSR_TIME, time.time())

    def _sdes_chunk(self) -> bytes:
        if self._sdes is None:
            cname = getattr(self.sender, _TX_CNAME, None)
            if not cname:
                return b""
            chunk = RtcpSourceInfo(ssrc=self.ssrc, items=[(1, str(cname).encode())])
            self._sdes = bytes(RtcpSdesPacket(chunks=[chunk]))
        return self._sdes

    async def _run_rtcp(self) -> None:
        """Stands in for aiortc's RTCP task: signal it started, wait to be cancelled by
        `RTCRtpSender.stop()`, send the BYE aiortc would, and signal it exited."""
        sender = self.sender
        getattr(sender, _TX_RTCP_STARTED).set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.get_running_loop().create_future()
        try:
            await sender._send_rtcp([RtcpByePacket(sources=[self.ssrc])])
        finally:
            getattr(sender, _TX_RTCP_EXITED).set()


def fast_protect(session: Any, rtcp: bool = False) -> Callable[[bytes], bytes]:
    """pylibsrtp's `Session.protect` (or `protect_rtcp`) without its per-call allocation and
    checks (pylibsrtp==1.0.0).

    Same libsrtp call on the session's own context and buffer; the result is copied out before the
    next call, so the outlets sharing one listener's session can share the buffer."""
    from pylibsrtp import _binding

    srtp = session._srtp[0]
    cdata = session._cdata
    buffer = session._buffer
    limit = len(cdata) - (_SRTCP_MAX_TRAILER_LEN if rtcp else _SRTP_MAX_TRAILER_LEN)
    length = _binding.ffi.new("int *")
    srtp_protect = _binding.lib.srtp_protect_rtcp if rtcp else _binding.lib.srtp_protect
    ok = _binding.lib.srtp_err_status_ok

    def protect(data: bytes) -> bytes:
        n = len(data)
        if n > limit:
            raise ValueError("packet is too long")
        length[0] = n
        buffer[0:n] = data
        if srtp_protect(srtp, cdata, length) != ok:
            raise OSError("srtp_protect failed")
        out: bytes = buffer[0 : length[0]]
        return out

    protect.session = session  # type: ignore[attr-defined]  # keeps the libsrtp context alive
    return protect


def fast_unprotect(session: Any, rtcp: bool = False) -> Callable[[bytes], bytes]:
    """pylibsrtp's `Session.unprotect` (or `unprotect_rtcp`) on the session's own buffer, without
    its per-call allocation; raises pylibsrtp.Error on a packet that fails authentication, as it
    does."""
    import pylibsrtp
    from pylibsrtp import _binding

    srtp = session._srtp[0]
    cdata = session._cdata
    buffer = session._buffer
    limit = len(cdata)
    length = _binding.ffi.new("int *")
    srtp_unprotect = _binding.lib.srtp_unprotect_rtcp if rtcp else _binding.lib.srtp_unprotect
    ok = _binding.lib.srtp_err_status_ok
    check = pylibsrtp._srtp_assert

    def unprotect(data: bytes) -> bytes:
        n = len(data)
        if n > limit:
            raise ValueError("packet is too long")
        length[0] = n
        buffer[0:n] = data
        rc = srtp_unprotect(srtp, cdata, length)
        if rc != ok:
            check(rc)
        out: bytes = buffer[0 : length[0]]
        return out

    unprotect.session = session  # type: ignore[attr-defined]
    return unprotect


def srtp_protect_address() -> int:
    """The address of `srtp_protect` in pylibsrtp's own libsrtp (for media_relay.fastpath's C
    loop, so both loops use one library). Raises AiortcInternalsError if its binding changed."""
    from pylibsrtp import _binding

    function = getattr(_binding.lib, "srtp_protect", None)
    if function is None:
        raise AiortcInternalsError("pylibsrtp _binding.lib.srtp_protect is gone")
    kind = str(_binding.ffi.typeof(function))
    if kind != _SRTP_PROTECT_TYPE:
        raise AiortcInternalsError(
            f"pylibsrtp srtp_protect is now {kind}, not {_SRTP_PROTECT_TYPE}"
        )
    return int(_binding.ffi.cast("uintptr_t", _binding.ffi.addressof(_binding.lib, "srtp_protect")))


def srtp_context_address(session: Any) -> int:
    """The libsrtp context (`srtp_t`) of a pylibsrtp Session, as an address."""
    from pylibsrtp import _binding

    return int(_binding.ffi.cast("uintptr_t", session._srtp[0]))


def sender_counters(sender: RTCRtpSender) -> tuple[int, int]:
    """(packets, octets) as aiortc's sender reports them (for tests and metrics)."""
    return getattr(sender, _TX_PACKETS), getattr(sender, _TX_OCTETS)


def unix_time() -> float:
    return time.time()
