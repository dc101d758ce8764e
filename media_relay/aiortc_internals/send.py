"""Sending to listeners underneath aiortc's senders:

* `RtpOutlet` sends a pre-built RTP packet through a listener's SRTP session and selected ICE pair
  synchronously (no task, no await per packet), with that listener's negotiated SSRC, payload
  type and header extension ids, and keeps the sender's counters true so its RTCP sender reports
  are right. With the C send loop built (`media_relay.fastpath`), the outlet hands its libsrtp
  context, socket and remote address to its C target when the DTLS transport connects
  (`media_relay.libsrtp.srtp_context_address`: pylibsrtp's own binding) and the Forwarder sends
  through that.
* `RtpOutlet` also replaces the sender's RTCP task (aiortc runs one per sender, waking every
  0.5-1.5 s to send a sender report): the room's periodic tick sends each listener's sender report
  itself, synchronously and at WebRTC's audio interval (about 5 s), and the task only sends the BYE
  when aiortc stops the sender.
* `IdleAudioTrack` is the listener sender's track, which never yields a frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import struct
import time
import weakref
from collections.abc import Callable
from typing import Any

from aiortc import MediaStreamTrack, RTCRtpSender
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import RTCDtlsTransport, State
from aiortc.rtp import RtcpByePacket, RtcpSdesPacket, RtcpSourceInfo

from media_relay import fastpath
from media_relay.aiortc_internals.checks import (
    FAST_OUTLETS,
    TX_CNAME,
    TX_LSR,
    TX_LSR_TIME,
    TX_NTP_TS,
    TX_OCTETS,
    TX_PACKETS,
    TX_RTCP_EXITED,
    TX_RTCP_STARTED,
    TX_RTP_TS,
    check_internals,
)
from media_relay.aiortc_internals.process import NTP_OFFSET
from media_relay.aiortc_internals.receive import socket_demux
from media_relay.libsrtp import fast_protect, srtp_context_address

logger = logging.getLogger(__name__)


# WebRTC's report interval for audio streams (Chrome's RTCP sender uses 5 s for audio); each
# report is scheduled 0.5-1.5 times this after the previous one (RFC 3550 6.3.1 randomisation).
SENDER_REPORT_INTERVAL_S = 5.0
_SR = struct.Struct("!BBHIIIIII")  # RTCP SR header + sender info, no report blocks

_CONNECTED = State.CONNECTED


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
            fastpath.target_disable(self.fast_target)

    def _resolve(self) -> bool:
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
                outlets = getattr(connection, FAST_OUTLETS, None)
                if outlets is None:
                    outlets = weakref.WeakSet()
                    setattr(connection, FAST_OUTLETS, outlets)
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
        ntp = int((unix_time + NTP_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF
        setattr(sender, TX_PACKETS, packets)
        setattr(sender, TX_OCTETS, octets)
        setattr(sender, TX_RTP_TS, rtp_timestamp)
        setattr(sender, TX_NTP_TS, ntp)
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
        setattr(sender, TX_LSR, (ntp >> 16) & 0xFFFFFFFF)
        setattr(sender, TX_LSR_TIME, time.time())

    def _sdes_chunk(self) -> bytes:
        if self._sdes is None:
            cname = getattr(self.sender, TX_CNAME, None)
            if not cname:
                return b""
            chunk = RtcpSourceInfo(ssrc=self.ssrc, items=[(1, str(cname).encode())])
            self._sdes = bytes(RtcpSdesPacket(chunks=[chunk]))
        return self._sdes

    async def _run_rtcp(self) -> None:
        """Stands in for aiortc's RTCP task: signal it started, wait to be cancelled by
        `RTCRtpSender.stop()`, send the BYE aiortc would, and signal it exited."""
        sender = self.sender
        getattr(sender, TX_RTCP_STARTED).set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.get_running_loop().create_future()
        try:
            await sender._send_rtcp([RtcpByePacket(sources=[self.ssrc])])
        finally:
            getattr(sender, TX_RTCP_EXITED).set()


def sender_counters(sender: RTCRtpSender) -> tuple[int, int]:
    """(packets, octets) as aiortc's sender reports them (for tests and metrics)."""
    return getattr(sender, TX_PACKETS), getattr(sender, TX_OCTETS)


def unix_time() -> float:
    return time.time()
