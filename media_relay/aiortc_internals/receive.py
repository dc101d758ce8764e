"""A speaker's RTP, and a connection's RTCP and STUN, taken out of aiortc's receive path:

* `tap_receiver` replaces an `RTCRtpReceiver`'s per-packet handler on the instance, so a speaker's
  decrypted RTP packets reach the relay *before* the jitter buffer and decoder. It keeps feeding
  the receiver's RTCP statistics, so aiortc still sends receiver reports to the speaker.
* `SocketDemux` (one per DTLS transport) takes what the relay receives most out of aiortc's
  receive path (aioice queue → DTLS task → router, a task wake-up and several awaits per packet)
  and handles it in the socket's `datagram_received` callback: a speaker's RTP once
  `DirectReceive` learned its SSRC (unprotect, `parse_rtp`, deliver), SRTCP (the listeners'
  receiver reports by `stats.RemoteInbound`, the rest by aiortc's own router and handlers, run to
  completion), and ICE consent checks on the nominated pair (`consent.answer_consent_check`, in
  place of aioice's `request_received`).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Callable
from typing import Any

import pylibsrtp
from aiortc import RTCRtpReceiver
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, RtcpPacket, RtpPacket

from media_relay.aiortc_internals.checks import (
    DEMUX,
    DTLS_RX_BYTES,
    DTLS_RX_PACKETS,
    EXT_IDS,
    ICE_CONSENT,
    RX_CODECS,
    RX_DIRECT,
    RX_STREAMS,
    TX_REMOTE_INBOUND,
    check_demux_internals,
    check_internals,
)
from media_relay.aiortc_internals.consent import answer_consent_check
from media_relay.aiortc_internals.process import NTP_OFFSET
from media_relay.aiortc_internals.stats import RemoteInbound
from media_relay.libsrtp import fast_unprotect
from media_relay.rtcp import RTCP_SR, Reports, compound_parts

logger = logging.getLogger(__name__)

PacketHandler = Callable[[RtpPacket, int], None]


class LossReportingStatistics(StreamStatistics):
    """aiortc's per-SSRC receive statistics, whose receiver reports to the speaker say the higher
    of the relay's own loss and `reported_loss()` (the room's listeners' loss: media_relay/loss.py),
    so the speaker's encoder adapts to the listeners' links."""

    def __init__(self, clockrate: int, reported_loss: Callable[[], int]) -> None:
        super().__init__(clockrate)
        self.reported_loss = reported_loss

    @property
    def fraction_lost(self) -> int:
        own = super().fraction_lost  # keeps aiortc's interval accounting
        return max(own, min(255, self.reported_loss()))


def tap_receiver(
    receiver: RTCRtpReceiver,
    on_packet: PacketHandler,
    reported_loss: Callable[[], int] | None = None,
) -> None:
    """Route this receiver's decrypted RTP packets to on_packet(packet, arrival_ms), undecoded.

    RTCP receiver reports keep working: the per-SSRC statistics aiortc reports from are fed here
    (with `reported_loss`, they report at least that loss: `LossReportingStatistics`).
    Call before the DTLS handshake completes (right after setRemoteDescription).

    The first packets take aiortc's path (ICE → queue → DTLS task → unprotect → router → the
    receiver); each one teaches `DirectReceive` its SSRC, and from then on that SSRC's packets
    are unprotected, parsed and handed over inside the socket's `datagram_received` callback
    (see `DirectReceive`). Everything else (DTLS, RTCP, STUN, unknown SSRCs) keeps aiortc's path.
    """
    check_internals(receiver=receiver)
    streams: dict[int, StreamStatistics] = getattr(receiver, RX_STREAMS)
    codecs: dict[int, Any] = getattr(receiver, RX_CODECS)

    def deliver(packet: RtpPacket, arrival_time_ms: int) -> None:
        codec = codecs.get(packet.payload_type)
        if codec is None:
            return
        stats = streams.get(packet.ssrc)
        if stats is None:
            stats = streams[packet.ssrc] = (
                StreamStatistics(codec.clockRate)
                if reported_loss is None
                else LossReportingStatistics(codec.clockRate, reported_loss)
            )
        stats.add(packet)
        on_packet(packet, arrival_time_ms)

    direct = DirectReceive(receiver, deliver)
    setattr(receiver, RX_DIRECT, direct)

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        deliver(packet, arrival_time_ms)
        # aiortc's router gave this SSRC to this receiver: take its next packets directly.
        direct.learn(packet.ssrc)

    # The DTLS transport's router calls `receiver._handle_rtp_packet(...)`; an instance attribute
    # shadows the method, so the jitter buffer and the decoder thread never see a packet.
    receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]


def untap_receiver(receiver: RTCRtpReceiver) -> None:
    """Drop every packet this receiver gets from now on (the publisher was closed)."""
    direct = getattr(receiver, RX_DIRECT, None)
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


def socket_demux(dtls: RTCDtlsTransport) -> SocketDemux | None:
    """The transport's `SocketDemux`, installed on first use; None before its SRTP keys exist."""
    demux = getattr(dtls, DEMUX, None)
    if demux is None:
        if getattr(dtls, "_rx_srtp", None) is None:
            return None
        connection = getattr(getattr(dtls, "transport", None), "_connection", None)
        if not getattr(connection, "_protocols", None):
            return None
        demux = SocketDemux(dtls)
        setattr(dtls, DEMUX, demux)
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
        check_demux_internals(dtls)
        self.media: dict[bytes, PacketHandler] = {}
        self.reports = 0
        self.consent_answers = 0
        session = dtls._rx_srtp
        unprotect = fast_unprotect(session)
        unprotect_rtcp = fast_unprotect(session, rtcp=True)
        extensions_map = dtls._rtp_header_extensions_map
        ids = getattr(extensions_map, EXT_IDS)  # updated in place if aiortc reconfigures
        router = dtls._rtp_router
        senders: dict[int, Any] = router.senders  # RTCRtpSender, as aiortc registers them
        receiving: dict[int, Any] = router.ssrc_table
        media = self.media
        offset_ms = NTP_OFFSET * 1000
        now = time.time
        srtp_error = pylibsrtp.Error
        rtcp_parse = RtcpPacket.parse

        def count(n: int) -> None:
            setattr(dtls, DTLS_RX_BYTES, getattr(dtls, DTLS_RX_BYTES) + n)
            setattr(dtls, DTLS_RX_PACKETS, getattr(dtls, DTLS_RX_PACKETS) + 1)

        def aiortc_rtcp(packets: list[Any]) -> None:
            for packet in packets:
                for recipient in router.route_rtcp(packet):
                    inbound = getattr(recipient, TX_REMOTE_INBOUND, None)
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
                    consent = getattr(connection, ICE_CONSENT, None)
                    if consent is not None and consent.response_bytes(data, protocol):
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
