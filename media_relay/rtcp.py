"""RTCP compound packets walked with `struct`, for the relay's receive path (RFC 3550).

The listeners' receiver reports (about one per listener per second) are the relay's most frequent
RTCP. aiortc's `RtcpPacket.parse` builds a dataclass per packet and per report block; here a
compound is split into its packets under exactly the rules under which aiortc's parser accepts
it (a compound aiortc would reject gives None), the report blocks of SR and RR are decoded,
SDES is checked and dropped (nothing in the relay reads it), and every other packet is kept as
its raw bytes for aiortc's own parser.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202

_HEADER = struct.Struct("!BBH")
_SSRC = struct.Struct("!I")
_BLOCK = struct.Struct(
    "!IIIIII"
)  # SSRC, fraction lost + cumulative lost, highest seq, jitter, LSR, DLSR
_BLOCK_LEN = 24
_SENDER_INFO_LEN = 20


class ReportBlock(NamedTuple):
    """One reception report block (RFC 3550 6.4.1), fields as aiortc's `RtcpReceiverInfo`."""

    ssrc: int
    fraction_lost: int
    packets_lost: int
    highest_sequence: int
    jitter: int
    lsr: int
    dlsr: int


class Reports(NamedTuple):
    """An SR or RR of a compound: who reports (`ssrc`) and its report blocks."""

    packet_type: int
    ssrc: int
    blocks: tuple[ReportBlock, ...]
    raw: bytes  # the packet as received, for aiortc's parser when the relay leaves it to aiortc


# A part of a compound: reports, or any other packet's raw bytes (SDES is left out).
Part = Reports | bytes


def compound_parts(data: bytes) -> list[Part] | None:
    """The packets of a decrypted compound, in order; None where aiortc's `RtcpPacket.parse`
    raises ValueError (so the caller can leave the whole compound to it)."""
    parts: list[Part] = []
    pos, n = 0, len(data)
    while pos < n:
        if n < pos + 4:
            return None
        first, packet_type, words = _HEADER.unpack_from(data, pos)
        if first >> 6 != 2:
            return None
        start, body, end = pos, pos + 4, pos + 4 + 4 * words
        if n < end:
            return None
        pos = end
        if first & 0x20:  # padding: its length is the last byte
            pad = data[end - 1] if end > body else 0
            if not pad or pad > end - body:
                return None
            end -= pad
        count = first & 0x1F
        if packet_type in (RTCP_RR, RTCP_SR):
            reports = _reports(data, packet_type, count, start, body, end, pos)
            if reports is None:
                return None
            parts.append(reports)
        elif packet_type == RTCP_SDES:
            if not _sdes_valid(data[body:end], count):
                return None
        else:
            parts.append(data[start:pos])
    return parts


def _reports(
    data: bytes, packet_type: int, count: int, start: int, body: int, end: int, packet_end: int
) -> Reports | None:
    offset = 4 + (_SENDER_INFO_LEN if packet_type == RTCP_SR else 0)
    if end - body != offset + _BLOCK_LEN * count:
        return None
    blocks = tuple(
        _block(data, at)
        for at in range(body + offset, body + offset + _BLOCK_LEN * count, _BLOCK_LEN)
    )
    return Reports(packet_type, _SSRC.unpack_from(data, body)[0], blocks, data[start:packet_end])


def _block(data: bytes, at: int) -> ReportBlock:
    ssrc, lost, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, at)
    cumulative = lost & 0xFFFFFF
    if cumulative & 0x800000:  # a signed 24-bit count (RFC 3550 6.4.1)
        cumulative -= 0x1000000
    return ReportBlock(ssrc, lost >> 24, cumulative, highest, jitter, lsr, dlsr)


def _sdes_valid(payload: bytes, count: int) -> bool:
    # The checks of aiortc's `RtcpSdesPacket.parse`, without building its chunks.
    pos, n = 0, len(payload)
    for _ in range(count):
        if n < pos + 4:
            return False
        pos += 4
        while pos < n - 1:
            item_type, length = payload[pos], payload[pos + 1]
            pos += 2
            if n < pos + length:
                return False
            pos += length
            if item_type == 0:
                break
    return True
