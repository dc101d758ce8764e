"""Every use of aiortc's private internals, in one place (aiortc==1.16.0 is pinned for this).

The relay forwards encoded RTP without decoding, which aiortc has no public API for:

* `tap_receiver` replaces an `RTCRtpReceiver`'s per-packet handler on the instance, so a speaker's
  decrypted RTP packets reach the relay *before* the jitter buffer and decoder. It keeps feeding
  the receiver's RTCP statistics, so aiortc still sends receiver reports to the speaker.
* `SocketDemux` (one per DTLS transport) takes what the relay receives most out of aiortc's
  receive path (aioice queue → DTLS task → router, a task wake-up and several awaits per packet)
  and handles it in the socket's `datagram_received` callback: a speaker's RTP once
  `DirectReceive` learned its SSRC (unprotect, `parse_rtp`, deliver), SRTCP (the listeners'
  receiver reports by `RemoteInbound`, the rest by aiortc's own router and handlers, run to
  completion), and ICE consent checks on the nominated pair (`answer_consent_check`, in place
  of aioice's `request_received`).
* `ConsentFreshness` (installed by `lean_consent`) runs the relay's own consent checks in place
  of aioice's `query_consent` task and STUN transactions, with aioice's semantics.
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

`check_internals()`, `check_demux_internals()` and `check_consent_internals()` name every
attribute used here; tests/media_relay/test_aiortc_internals.py
calls it and exercises each path, so an aiortc upgrade that moves any of them fails loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import random
import secrets
import struct
import time
import weakref
from collections.abc import Callable
from typing import Any

import aioice.ice
import aioice.stun
from aioice.candidate import candidate_priority
from aioice.ice import CandidatePair
from aiortc import MediaStreamTrack, RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.codecs import CODECS
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsTransport, State
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtcrtpsender import RTT_ALPHA
from aiortc.rtp import (
    HeaderExtensions,
    HeaderExtensionsMap,
    RtcpByePacket,
    RtcpPacket,
    RtcpSdesPacket,
    RtcpSourceInfo,
    RtpPacket,
)
from aiortc.stats import RTCRemoteInboundRtpStreamStats, RTCStatsReport

from media_relay import stun
from media_relay.rtcp import RTCP_SR, ReportBlock, Reports, compound_parts
from media_relay.send_profile import SendProfile

logger = logging.getLogger(__name__)

AIORTC_VERSION = "1.16.0"
# answer_consent_check repeats what its request_received does, ConsentFreshness its query_consent
AIOICE_VERSION = "0.13.0"
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
_TX_RTT = "_RTCRtpSender__rtt"
_TX_KIND = "_RTCRtpSender__kind"
_TX_STATS = "_RTCRtpSender__stats"
_DTLS_RX_BYTES = "_RTCDtlsTransport__rx_bytes"
_DTLS_RX_PACKETS = "_RTCDtlsTransport__rx_packets"
_EXT_IDS = "_HeaderExtensionsMap__ids"
_RX_DIRECT = "_relay_direct_receive"  # ours, on the tapped receiver instance
_TX_REMOTE_INBOUND = "_relay_remote_inbound"  # ours, on a relay sender instance
_ICE_CONSENT = "_relay_consent"  # ours, on an aioice Connection instance

_SRTP_MAX_TRAILER_LEN = 144  # pylibsrtp.SRTP_MAX_TRAILER_LEN
_SRTCP_MAX_TRAILER_LEN = 148  # pylibsrtp.SRTP_MAX_SRTCP_TRAILER_LEN

# WebRTC's report interval for audio streams (Chrome's RTCP sender uses 5 s for audio); each
# report is scheduled 0.5-1.5 times this after the previous one (RFC 3550 6.3.1 randomisation).
SENDER_REPORT_INTERVAL_S = 5.0
_SR = struct.Struct("!BBHIIIIII")  # RTCP SR header + sender info, no report blocks

# NTP epoch (1900) to Unix epoch (1970).
_NTP_OFFSET = 2_208_988_800

_CONNECTED = State.CONNECTED
# Ours, on an aioice Connection: the RtpOutlets whose C targets send on its socket (a WeakSet).
_FAST_OUTLETS = "_relay_fast_outlets"
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
        (RTCRtpSender, "_handle_rtcp_packet"),
        (RTCRtpSender, "getStats"),
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
        for name in (_TX_LSR, _TX_LSR_TIME, _TX_CNAME, _TX_RTT, _TX_KIND):
            if not hasattr(sender, name):
                raise AiortcInternalsError(f"aiortc RTCRtpSender.{name} is gone")
        if not isinstance(getattr(sender, _TX_STATS, None), RTCStatsReport):
            raise AiortcInternalsError(f"aiortc RTCRtpSender.{_TX_STATS} (a stats report) is gone")
        dtls = sender.transport
        for name in ("_tx_srtp", "_state", "_stats_id"):
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
    * SRTCP (RTCP demultiplexed as aiortc does: second byte 192-208): unprotect, then walk the
      compound (`media_relay.rtcp`). The report blocks of an RR, or of an SR from an SSRC the
      transport does not receive, about one of the transport's senders (a listener's receiver
      reports) update that sender's `RemoteInbound` (round-trip time and getStats, as aiortc's
      handler would); SDES is dropped (aiortc ignores it too). Every other packet (a speaker's SR
      for the relay's receiver, BYE, feedback, unknown types) is parsed, routed with the
      transport's own router and run by aiortc's own handlers (a speaker's sender reports feed
      the receiver's LSR/DLSR for the reports the relay sends back). Those do not await
      (`test_aiortcs_rtcp_handlers_complete_without_awaiting`); one that does is finished as a
      task. A compound aiortc's parser would reject is dropped whole, as aiortc drops it;
    * a STUN consent check on the nominated pair: answered by `answer_consent_check`;
    * the success response to the relay's own consent check (`ConsentFreshness`).

    Everything else (other STUN, DTLS, RTP of an unknown SSRC, anything before the SRTP keys
    exist) goes to aioice's callback unchanged. The transport's receive counters are kept;
    `reports` and `consent_answers` count what was handled here instead of by aiortc or aioice.
    """

    __slots__ = ("consent_answers", "media", "reports")

    def __init__(self, dtls: RTCDtlsTransport) -> None:
        import pylibsrtp

        check_demux_internals(dtls)
        self.media: dict[bytes, PacketHandler] = {}
        self.reports = 0
        self.consent_answers = 0
        session = dtls._rx_srtp
        unprotect = fast_unprotect(session)
        unprotect_rtcp = fast_unprotect(session, rtcp=True)
        extensions_map = dtls._rtp_header_extensions_map
        ids = getattr(extensions_map, _EXT_IDS)  # updated in place if aiortc reconfigures
        router = dtls._rtp_router
        senders: dict[int, Any] = router.senders  # RTCRtpSender, as aiortc registers them
        receiving: dict[int, Any] = router.ssrc_table
        media = self.media
        offset_ms = _NTP_OFFSET * 1000
        now = time.time
        srtp_error = pylibsrtp.Error
        rtcp_parse = RtcpPacket.parse

        def count(n: int) -> None:
            setattr(dtls, _DTLS_RX_BYTES, getattr(dtls, _DTLS_RX_BYTES) + n)
            setattr(dtls, _DTLS_RX_PACKETS, getattr(dtls, _DTLS_RX_PACKETS) + 1)

        def aiortc_rtcp(packets: list[Any]) -> None:
            for packet in packets:
                for recipient in router.route_rtcp(packet):
                    inbound = getattr(recipient, _TX_REMOTE_INBOUND, None)
                    if inbound is not None:  # aiortc's entry, if it writes one, is the newer
                        inbound.flush()
                    try:
                        run_to_completion(recipient._handle_rtcp_packet(packet))
                    except Exception:  # never let one report close the socket
                        logger.exception("RTCP handler failed")

        def rtcp(data: bytes) -> None:
            count(len(data))
            try:
                plain = unprotect_rtcp(data)
            except (srtp_error, ValueError):
                return
            parts = compound_parts(plain)
            if parts is None:  # aiortc's parser raises on it: dropped whole, as aiortc drops it
                return
            # aiortc parses the whole compound before handling any of it: so does this.
            steps: list[Reports | list[Any]] = []
            for part in parts:
                if isinstance(part, Reports):
                    if part.packet_type != RTCP_SR or part.ssrc not in receiving:
                        steps.append(part)
                        continue
                    part = part.raw
                try:
                    steps.append(rtcp_parse(part))
                except ValueError:
                    return
            arrival = now()
            for step in steps:
                if isinstance(step, Reports):
                    for block in step.blocks:
                        sender = senders.get(block.ssrc)
                        if sender is not None:
                            RemoteInbound.of(sender).report(step.ssrc, block, arrival)
                            self.reports += 1
                else:
                    aiortc_rtcp(step)

        connection = dtls.transport._connection
        for protocol in connection._protocols:
            original = protocol.datagram_received

            def datagram_received(
                data: bytes,
                addr: tuple[Any, ...],
                original: Callable[..., None] = original,
                protocol: Any = protocol,
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
                elif data[:2] == b"\x00\x01":
                    if answer_consent_check(connection, protocol, data, addr):
                        self.consent_answers += 1
                        return
                elif data[:2] == b"\x01\x01":
                    consent = getattr(connection, _ICE_CONSENT, None)
                    if consent is not None and consent.response_bytes(data, protocol):
                        return
                original(data, addr)

            protocol.datagram_received = datagram_received  # type: ignore[method-assign, assignment]


def check_demux_internals(dtls: RTCDtlsTransport) -> None:
    """What `SocketDemux` reads on the transport's router and its aioice connection."""
    _check_aioice_version()
    router = getattr(dtls, "_rtp_router", None)
    for name in ("senders", "ssrc_table"):
        if not isinstance(getattr(router, name, None), dict):
            raise AiortcInternalsError(f"aiortc RtpRouter.{name} (a dict) is gone")
    connection = getattr(getattr(dtls, "transport", None), "_connection", None)
    for name in ("_nominated",):
        if not isinstance(getattr(connection, name, None), dict):
            raise AiortcInternalsError(f"aioice Connection.{name} (a dict) is gone")
    for name in ("_remote_candidates", "_check_list", "_protocols"):
        if not isinstance(getattr(connection, name, None), list):
            raise AiortcInternalsError(f"aioice Connection.{name} (a list) is gone")
    for name in ("_closing", "_early_checks_done", "ice_controlling"):
        if not isinstance(getattr(connection, name, None), bool):
            raise AiortcInternalsError(f"aioice Connection.{name} (a bool) is gone")
    for name in ("local_username", "local_password", "remote_username"):
        if not hasattr(connection, name):
            raise AiortcInternalsError(f"aioice Connection.{name} is gone")
    if not callable(getattr(connection, "check_complete", None)):
        raise AiortcInternalsError("aioice Connection.check_complete is gone")
    check_pair_internals()


def _check_aioice_version() -> None:
    if aioice.__version__ != AIOICE_VERSION:
        raise AiortcInternalsError(
            f"media_relay.aiortc_internals was written for aioice=={AIOICE_VERSION}, "
            f"found {aioice.__version__}: re-check answer_consent_check and ConsentFreshness "
            "against its Connection.request_received, check_incoming and query_consent"
        )


def check_pair_internals() -> None:
    """aioice's candidate pair and candidate, as `answer_consent_check` reads them."""
    from aioice.candidate import Candidate

    if not hasattr(getattr(CandidatePair, "State", None), "SUCCEEDED"):
        raise AiortcInternalsError("aioice CandidatePair.State.SUCCEEDED is gone")
    pair = CandidatePair(None, Candidate("f", 1, "udp", 1, "192.0.2.1", 9, "host"))  # type: ignore[arg-type]
    for owner, name in (
        (pair, "protocol"),
        (pair, "remote_candidate"),
        (pair, "state"),
        (pair, "nominated"),
        (pair, "remote_nominated"),
        (pair.remote_candidate, "_network_host"),
        (pair.remote_candidate, "port"),
    ):
        if not hasattr(owner, name):
            raise AiortcInternalsError(f"aioice {type(owner).__name__}.{name} is gone")


def answer_consent_check(
    connection: Any, protocol: Any, data: bytes, addr: tuple[Any, ...]
) -> bool:
    """Answer a STUN Binding request that is a consent check on the nominated pair (RFC 7675),
    and do what aioice's `Connection.request_received` and `check_incoming` would do with it;
    False (nothing done) for anything those would treat otherwise.

    aioice parses every request with its generic parser and builds the response three times
    over; with the relay's own checks, aioice's STUN was ~17% of the sampled relay CPU at 10
    listeners. Left to aioice, so its errors and ICE behaviour stay its own: other messages and
    layouts (`stun.parse_binding_request`), a wrong USERNAME or MESSAGE-INTEGRITY (its 401),
    role-conflict attributes (its 487 or role switch), any address or socket but the nominated
    pair's, a connection closing or whose early checks are pending.
    """
    request = stun.parse_binding_request(data)
    if request is None or connection._closing or not connection._early_checks_done:
        return False
    addr = (addr[0], addr[1])  # aioice forces an IPv6 four-tuple to a two-tuple
    pair = connection._nominated.get(protocol.local_candidate.component)
    if pair is None or _incoming_pair(connection, protocol, addr) is not pair:
        return False
    if pair.state is not _PAIR_SUCCEEDED:  # aioice would start a triggered check
        return False
    controlling = connection.ice_controlling
    if request.ice_controlling if controlling else request.ice_controlled:
        return False
    remote_username = connection.remote_username
    if remote_username is None:
        return False
    if request.username != f"{connection.local_username}:{remote_username}".encode():
        return False
    key = connection.local_password.encode()
    if not stun.integrity_valid(data, request, key):
        return False
    protocol.transport.sendto(stun.binding_success(request.transaction_id, addr, key), addr)
    if request.use_candidate and not controlling:  # RFC 8445 7.3.1.5, as check_incoming does
        pair.remote_nominated = True
        pair.nominated = True
        connection.check_complete(pair)
    return True


def _incoming_pair(connection: Any, protocol: Any, addr: tuple[Any, ...]) -> Any:
    # The pair aioice's check_incoming finds for a check: the first remote candidate at this
    # address, then the first pair of it on this socket.
    for candidate in connection._remote_candidates:
        if candidate._network_host == addr[0] and candidate.port == addr[1]:
            break
    else:
        return None
    for pair in connection._check_list:
        if pair.protocol == protocol and pair.remote_candidate == candidate:
            return pair
    return None


class ConsentFreshness:
    """The relay's own consent checks on one connection (RFC 7675), in place of aioice's
    `Connection.query_consent` task (installed by `lean_consent`, before ICE connects).

    aioice's loop per check: a task wake-up from its sleep, a `stun.Message` serialised three
    times, a `Transaction` (a future and a timer) and its await, and the response through the
    generic parser. Here: one timer, the request built with `media_relay.stun`, the response
    matched by transaction id in the socket callback (`response_bytes`), or, before the
    transport has a `SocketDemux` or for a response laid out otherwise, by aioice's own parser,
    through `protocol.transactions` where this object stands in for a `Transaction`
    (`response_received`).

    The semantics are aioice 0.13.0's: every CONSENT_INTERVAL x 0.8-1.2 after the previous round
    ended, one Binding request per nominated pair, in turn, no retransmission, RETRY_RTO (0.5 s)
    for an answer authenticated with the remote password; a success resets the failure count, an
    authenticated error or a timeout adds one, and at CONSENT_FAILURES the connection is closed
    from the task aioice would have run (`run`), which `Connection.close()` cancels.
    """

    __slots__ = (
        "_connection",
        "_expired",
        "_pairs",
        "_protocol",
        "_timer",
        "_transaction",
        "failures",
        "lean_responses",
        "requests",
    )

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._expired: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._pairs: list[Any] = []
        self._protocol: Any = None
        self._transaction: bytes | None = None
        self.failures = 0
        self.requests = 0
        self.lean_responses = 0

    async def run(self) -> None:
        """Stands in for `Connection.query_consent`: aioice runs it as its consent task."""
        self._expired = asyncio.get_running_loop().create_future()
        self._sleep()
        try:
            await self._expired
        finally:
            self._stop()
        logger.info("%s Consent to send expired", self._connection)
        # aioice closes the sockets before the DTLS transport leaves "connected": the C send loop
        # must stop using this connection's socket first (its fd may be reused once closed).
        for outlet in list(getattr(self._connection, _FAST_OUTLETS, ())):
            outlet.fast_disable()
        self._connection._query_consent_task = None
        await self._connection.close()

    def response_bytes(self, data: bytes, protocol: Any) -> bool:
        """A datagram from the socket callback that may answer the pending check. False leaves
        it to aioice (which passes it to `response_received` if its transaction id is ours)."""
        transaction = self._transaction
        if transaction is None or protocol is not self._protocol or data[8:20] != transaction:
            return False
        response = stun.parse_binding_response(data)
        if response is None:
            return False
        if stun.integrity_valid(data, response, self._connection.remote_password.encode()):
            self.lean_responses += 1
            self._done(success=True)
        return True  # unauthenticated: ignored, as aioice's Transaction ignores it

    def response_received(self, message: Any, addr: tuple[str, int]) -> None:
        """aioice's `Transaction.response_received`, for a response its parser read."""
        if not message.check_message_integrity(self._connection.remote_password.encode()):
            return
        self._done(success=message.message_class == aioice.stun.Class.RESPONSE)

    def _sleep(self) -> None:
        delay = aioice.ice.CONSENT_INTERVAL * (0.8 + 0.4 * random.random())
        self._timer = asyncio.get_running_loop().call_later(delay, self._round)

    def _round(self) -> None:
        if self._connection._closing:  # close() is cancelling `run`
            return
        self._pairs = list(self._connection._nominated.values())
        self._next()

    def _next(self) -> None:
        if not self._pairs:
            self._sleep()
            return
        pair = self._pairs.pop(0)
        connection = self._connection
        transaction = secrets.token_bytes(12)
        request = stun.binding_request(
            transaction,
            f"{connection.remote_username}:{connection.local_username}",
            candidate_priority(pair.component, "prflx"),
            connection.ice_controlling,
            connection._tie_breaker,
            connection.remote_password.encode(),
        )
        self._transaction, self._protocol = transaction, pair.protocol
        pair.protocol.transactions[transaction] = self
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(aioice.stun.RETRY_RTO, self._done, False)
        self.requests += 1
        pair.protocol.transport.sendto(request, pair.remote_addr)

    def _done(self, success: bool) -> None:
        self._forget_transaction()
        self.failures = 0 if success else self.failures + 1
        if self.failures >= aioice.ice.CONSENT_FAILURES:
            if self._expired is not None and not self._expired.done():
                self._expired.set_result(None)
            return
        self._next()

    def _forget_transaction(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transaction is not None:
            self._protocol.transactions.pop(self._transaction, None)
            self._transaction = None

    def _stop(self) -> None:
        self._forget_transaction()
        self._pairs = []


def lean_consent(pc: Any) -> None:
    """Give each ICE connection of this peer connection a `ConsentFreshness` in place of aioice's
    consent task. Call before ICE connects (right after setRemoteDescription)."""
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport._connection
        if getattr(connection, _ICE_CONSENT, None) is None:
            check_consent_internals(connection)
            consent = ConsentFreshness(connection)
            setattr(connection, _ICE_CONSENT, consent)
            # aioice's connect() starts `self.query_consent()`: the instance attribute shadows
            # its method, so the consent task runs `ConsentFreshness.run` instead.
            connection.query_consent = consent.run


def consent_of(connection: Any) -> ConsentFreshness | None:
    consent: ConsentFreshness | None = getattr(connection, _ICE_CONSENT, None)
    return consent


def check_consent_internals(connection: Any) -> None:
    """What `ConsentFreshness` reads and replaces on an aioice Connection."""
    _check_aioice_version()
    for name in ("query_consent", "close"):
        if not callable(getattr(connection, name, None)):
            raise AiortcInternalsError(f"aioice Connection.{name} is gone")
    for name in ("_query_consent_task", "remote_password", "_tie_breaker", "_closing"):
        if not hasattr(connection, name):
            raise AiortcInternalsError(f"aioice Connection.{name} is gone")
    for module, name in (
        (aioice.ice, "CONSENT_INTERVAL"),
        (aioice.ice, "CONSENT_FAILURES"),
        (aioice.stun, "RETRY_RTO"),
    ):
        if not isinstance(getattr(module, name, None), int | float):
            raise AiortcInternalsError(f"{module.__name__}.{name} (a number) is gone")
    if not callable(candidate_priority):
        raise AiortcInternalsError("aioice.candidate.candidate_priority is gone")
    protocol = aioice.ice.StunProtocol(connection)
    if not isinstance(getattr(protocol, "transactions", None), dict):
        raise AiortcInternalsError("aioice StunProtocol.transactions (a dict) is gone")


_PAIR_SUCCEEDED = CandidatePair.State.SUCCEEDED


class RemoteInbound:
    """What aiortc's `RTCRtpSender._handle_rtcp_packet` keeps from the receiver reports about one
    relay sender, updated from the socket callback: the smoothed round-trip time (aiortc's
    estimate from LSR/DLSR, on the sender itself) and the `remote-inbound-rtp` entry of its
    `getStats()`.

    aiortc builds that entry (a dataclass and a timezone-aware datetime) for every report; here
    the report's fields are kept and the entry is built from the latest of them when it can be
    seen: when the sender's stats are read (`getStats` is shadowed on the instance) or before
    aiortc's own handler runs for this sender (so an entry that handler writes stays the newer).
    """

    __slots__ = (
        "fraction_lost",
        "jitter",
        "packets_lost",
        "packets_received",
        "pending",
        "rtt",
        "sender",
        "ssrc",
        "time",
    )

    def __init__(self, sender: RTCRtpSender) -> None:
        check_internals(sender=sender)
        self.sender = sender
        self.pending = False
        self.ssrc = self.packets_received = self.packets_lost = self.jitter = 0
        self.fraction_lost = 0
        self.rtt: float | None = None
        self.time = 0.0
        aiortc_get_stats = sender.getStats

        async def get_stats() -> RTCStatsReport:
            self.flush()
            return await aiortc_get_stats()

        sender.getStats = get_stats  # type: ignore[method-assign]

    @classmethod
    def of(cls, sender: RTCRtpSender) -> RemoteInbound:
        inbound: RemoteInbound | None = getattr(sender, _TX_REMOTE_INBOUND, None)
        if inbound is None:
            inbound = cls(sender)
            setattr(sender, _TX_REMOTE_INBOUND, inbound)
        return inbound

    def report(self, reporter_ssrc: int, block: ReportBlock, now: float) -> None:
        """One report block about this sender, from `reporter_ssrc`, received at `now`."""
        sender = self.sender
        if getattr(sender, _TX_LSR) == block.lsr and block.dlsr:
            rtt = now - getattr(sender, _TX_LSR_TIME) - block.dlsr / 65536
            previous = getattr(sender, _TX_RTT)
            if previous is not None:
                rtt = RTT_ALPHA * previous + (1 - RTT_ALPHA) * rtt
            setattr(sender, _TX_RTT, rtt)
        self.ssrc = reporter_ssrc
        self.packets_received = getattr(sender, _TX_PACKETS) - block.packets_lost
        self.packets_lost = block.packets_lost
        self.jitter = block.jitter
        self.fraction_lost = block.fraction_lost
        self.rtt = getattr(sender, _TX_RTT)
        self.time = now
        self.pending = True

    def flush(self) -> None:
        """Write the latest report into the sender's stats, as aiortc's handler would have."""
        if not self.pending:
            return
        self.pending = False
        sender = self.sender
        stats: RTCStatsReport = getattr(sender, _TX_STATS)
        stats.add(
            RTCRemoteInboundRtpStreamStats(
                timestamp=datetime.datetime.fromtimestamp(self.time, datetime.UTC),
                type="remote-inbound-rtp",
                id="remote-inbound-rtp_" + str(id(sender)),
                ssrc=self.ssrc,
                kind=getattr(sender, _TX_KIND),
                transportId=sender.transport._stats_id,
                packetsReceived=self.packets_received,
                packetsLost=self.packets_lost,
                jitter=self.jitter,
                roundTripTime=self.rtt,  # type: ignore[arg-type]  # None before the first estimate, as in aiortc
                fractionLost=self.fraction_lost,
            )
        )


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
                # Connected: fill and enable the C target; any other state: disable it, so the C
                # loop skips this listener without asking Python.
                alive = outlet()
                if alive is not None:
                    alive._resolve()

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

    def fast_disable(self) -> None:
        """Stop the C loop sending for this listener (re-enabled if its transport reconnects)."""
        if self.fast_target is not None:
            from media_relay import fastpath

            fastpath.target_disable(self.fast_target)

    def _resolve(self) -> bool:
        from media_relay import fastpath  # not at the top: fastpath imports this module

        dtls = self._dtls
        self._protect = None
        target = self.fast_target
        if target is not None:
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
            fd = pair.protocol.transport.get_extra_info("socket").fileno()
            if fastpath.target_set(
                target, srtp_context_address(dtls._tx_srtp), fd, self._addr, self.ssrc
            ):
                connection = dtls.transport._connection
                outlets = getattr(connection, _FAST_OUTLETS, None)
                if outlets is None:
                    outlets = weakref.WeakSet()
                    setattr(connection, _FAST_OUTLETS, outlets)
                outlets.add(self)
            else:
                logger.warning("relay C send loop: unusable remote address %r", self._addr)
        return True

    def send(self, packet: bytes, payload_octets: int) -> bool:
        """Protect and send one RTP packet now. False when the transport is not connected.
        (The Forwarder sends to outlets with a C target through the C loop, not through this.)"""
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
