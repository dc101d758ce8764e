"""The round-trip time and `remote-inbound-rtp` statistics of the relay's senders, kept from the
listeners' receiver reports that `receive.SocketDemux` reads in the socket callback
(`RemoteInbound`), in place of aiortc's `RTCRtpSender._handle_rtcp_packet`.
"""

from __future__ import annotations

import datetime

from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.rtcrtpsender import RTT_ALPHA
from aiortc.stats import RTCRemoteInboundRtpStreamStats, RTCStatsReport

from media_relay.aiortc_internals.checks import (
    TX_KIND,
    TX_LSR,
    TX_LSR_TIME,
    TX_PACKETS,
    TX_REMOTE_INBOUND,
    TX_RTT,
    TX_STATS,
    check_internals,
)
from media_relay.rtcp import ReportBlock


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
        inbound: RemoteInbound | None = getattr(sender, TX_REMOTE_INBOUND, None)
        if inbound is None:
            inbound = cls(sender)
            setattr(sender, TX_REMOTE_INBOUND, inbound)
        return inbound

    def report(self, reporter_ssrc: int, block: ReportBlock, now: float) -> None:
        """One report block about this sender, from `reporter_ssrc`, received at `now`."""
        sender = self.sender
        if getattr(sender, TX_LSR) == block.lsr and block.dlsr:
            rtt = now - getattr(sender, TX_LSR_TIME) - block.dlsr / 65536
            previous = getattr(sender, TX_RTT)
            if previous is not None:
                rtt = RTT_ALPHA * previous + (1 - RTT_ALPHA) * rtt
            setattr(sender, TX_RTT, rtt)
        self.ssrc = reporter_ssrc
        self.packets_received = getattr(sender, TX_PACKETS) - block.packets_lost
        self.packets_lost = block.packets_lost
        self.jitter = block.jitter
        self.fraction_lost = block.fraction_lost
        self.rtt = getattr(sender, TX_RTT)
        self.time = now
        self.pending = True

    def flush(self) -> None:
        """Write the latest report into the sender's stats, as aiortc's handler would have."""
        if not self.pending:
            return
        self.pending = False
        sender = self.sender
        stats: RTCStatsReport = getattr(sender, TX_STATS)
        stats.add(
            RTCRemoteInboundRtpStreamStats(
                timestamp=datetime.datetime.fromtimestamp(self.time, datetime.UTC),
                type="remote-inbound-rtp",
                id="remote-inbound-rtp_" + str(id(sender)),
                ssrc=self.ssrc,
                kind=getattr(sender, TX_KIND),
                transportId=sender.transport._stats_id,
                packetsReceived=self.packets_received,
                packetsLost=self.packets_lost,
                jitter=self.jitter,
                roundTripTime=self.rtt,  # type: ignore[arg-type]  # None before the first estimate, as in aiortc
                fractionLost=self.fraction_lost,
            )
        )


def reported_fraction_lost(sender: RTCRtpSender, now: float, max_age_s: float) -> int | None:
    """The fraction lost (0-255) in the latest receiver report about this sender, if one came
    within `max_age_s` of `now` (time.time())."""
    inbound: RemoteInbound | None = getattr(sender, TX_REMOTE_INBOUND, None)
    if inbound is None or not inbound.time or now - inbound.time > max_age_s:
        return None
    return int(inbound.fraction_lost)


def selected_candidate_types(pc: RTCPeerConnection) -> tuple[str, str] | None:
    """The types (`host`, `srflx`, `prflx`, `relay`) of the local and the remote candidate of the
    peer connection's selected ICE pair (component 1, the one the relay sends on), or None before
    ICE has nominated one. aioice names it only in `Connection._nominated` (checked by
    `checks.check_demux_internals`)."""
    for transceiver in pc.getTransceivers():
        dtls = transceiver.sender.transport
        connection = getattr(getattr(dtls, "transport", None), "_connection", None)
        pair = (getattr(connection, "_nominated", None) or {}).get(1)
        if pair is not None:
            return str(pair.local_candidate.type), str(pair.remote_candidate.type)
    return None
