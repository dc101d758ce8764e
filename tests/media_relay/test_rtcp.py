"""The relay's RTCP compound walk reads what aiortc's parser reads and refuses what it refuses."""

from __future__ import annotations

import pytest
from aiortc.rtp import (
    RtcpByePacket,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
)

from media_relay.rtcp import RTCP_RR, RTCP_SR, Reports, compound_parts


def _block(ssrc: int, lost: int) -> RtcpReceiverInfo:
    return RtcpReceiverInfo(
        ssrc=ssrc,
        fraction_lost=17,
        packets_lost=lost,
        highest_sequence=70_000,
        jitter=33,
        lsr=0xABCD1234,
        dlsr=65536 + 5,
    )


RR = RtcpRrPacket(ssrc=11, reports=[_block(1, 3), _block(2, -2)])
SR = RtcpSrPacket(
    ssrc=12,
    sender_info=RtcpSenderInfo(
        ntp_timestamp=1 << 40, rtp_timestamp=9, packet_count=10, octet_count=11
    ),
    reports=[_block(1, 0x7FFFFF)],
)
SDES = RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=11, items=[(1, b"cname")])])
BYE = RtcpByePacket(sources=[11])
PLI = RtcpPsfbPacket(fmt=1, ssrc=11, media_ssrc=1)


def test_report_blocks_are_aiortcs_and_sdes_is_dropped() -> None:
    data = bytes(RR) + bytes(SDES) + bytes(SR)
    parts = compound_parts(data)
    assert parts is not None
    assert [type(p) for p in parts] == [Reports, Reports]
    theirs = [p for p in RtcpPacket.parse(data) if not isinstance(p, RtcpSdesPacket)]
    for ours, packet in zip(parts, theirs, strict=True):
        assert isinstance(ours, Reports)
        assert isinstance(packet, RtcpRrPacket | RtcpSrPacket)
        assert ours.ssrc == packet.ssrc
        assert ours.packet_type == (RTCP_SR if isinstance(packet, RtcpSrPacket) else RTCP_RR)
        assert [b._asdict() for b in ours.blocks] == [vars(r) for r in packet.reports]
        assert RtcpPacket.parse(ours.raw) == [packet]


def test_other_packets_are_kept_whole_for_aiortc() -> None:
    data = bytes(RR) + bytes(BYE) + bytes(PLI) + bytes([0x80, 204, 0, 1, 0, 0, 0, 0])  # APP
    parts = compound_parts(data)
    assert parts is not None
    assert parts[1:] == [bytes(BYE), bytes(PLI), bytes([0x80, 204, 0, 1, 0, 0, 0, 0])]


def test_padding_is_removed_as_aiortc_removes_it() -> None:
    rr = bytearray(bytes(RtcpRrPacket(ssrc=11, reports=[_block(1, 0)])))
    rr[0] |= 0x20
    rr[3] += 1
    padded = bytes(rr) + b"\0\0\0\x04"
    parts = compound_parts(padded)
    assert parts is not None
    assert isinstance(parts[0], Reports)
    assert parts[0].blocks[0].ssrc == 1
    assert RtcpPacket.parse(padded)[0] == RtcpPacket.parse(bytes(parts[0].raw))[0]


@pytest.mark.parametrize(
    "data",
    [
        bytes(RR)[:-1],  # truncated
        b"\x80\xc9\x00",  # shorter than a header
        bytes([0x40]) + bytes(RR)[1:],  # version 1
        bytes([0x83]) + bytes(RR)[1:],  # three blocks announced, two present
        bytes([0xA0]) + bytes(RR)[1:-1] + b"\x00",  # padding of zero bytes
        bytes([0xA0]) + bytes(RR)[1:-1] + b"\xff",  # padding longer than the packet
        bytes([0x81, 200, 0, 1, 0, 0, 0, 1]),  # sender report without sender info
        bytes(RR) + bytes([0x81, 202, 0, 1, 0, 0, 0, 1]) + bytes([0x81, 202, 0, 0]),  # SDES
        bytes(RR) + bytes([0x81, 202, 0, 2, 0, 0, 0, 1, 1, 9, 0, 0]),  # SDES item overruns
    ],
)
def test_a_compound_aiortc_refuses_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - aiortc's message differs per malformation
        RtcpPacket.parse(data)
    assert compound_parts(data) is None
