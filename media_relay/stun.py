"""The STUN Binding request and success response of an ICE consent check (RFC 8489, 8445, 7675),
decoded and encoded with `struct`, `hmac.digest` and `zlib.crc32`.

Each side of every connection sends a consent check about every 5 s. aioice parses each
message with its generic parser (an attribute dict, a byte-by-byte XOR for addresses) and builds
each through `Message.__bytes__` three times (for the integrity, the fingerprint and the
datagram). This module only knows the layouts ICE agents send for a check and its success
response; the parsers return None for anything else, so the caller can leave it to aioice.
"""

from __future__ import annotations

import hmac
import ipaddress
import struct
import zlib
from typing import NamedTuple

COOKIE = 0x2112A442
BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101

USERNAME = 0x0006
MESSAGE_INTEGRITY = 0x0008
XOR_MAPPED_ADDRESS = 0x0020
PRIORITY = 0x0024
USE_CANDIDATE = 0x0025
FINGERPRINT = 0x8028
ICE_CONTROLLED = 0x8029
ICE_CONTROLLING = 0x802A

# Attributes a check may carry before MESSAGE-INTEGRITY, with the value length each must have
# (None: any). Any other attribute below 0x8000 (comprehension-required), or one of aioice's
# known comprehension-optional attributes (SOFTWARE, RESPONSE-ORIGIN, ...), makes the request
# one for aioice. Unknown comprehension-optional ones (Chrome's GOOG-NETWORK-INFO) are skipped,
# as aioice skips them.
_CHECK_ATTRIBUTES: dict[int, int | None] = {
    USERNAME: None,
    PRIORITY: 4,
    USE_CANDIDATE: 0,
    ICE_CONTROLLED: 8,
    ICE_CONTROLLING: 8,
}
_AIOICE_OPTIONAL = frozenset({0x8022, FINGERPRINT, 0x802B, 0x802C})

_HEADER = struct.Struct("!HHI12s")
_ATTRIBUTE = struct.Struct("!HH")
_FINGERPRINT_XOR = 0x5354554E
_INTEGRITY_LEN = 24  # attribute header + HMAC-SHA1
_FINGERPRINT_LEN = 8  # attribute header + CRC-32


class BindingResponse(NamedTuple):
    transaction_id: bytes
    integrity: bytes
    integrity_at: int


class BindingRequest(NamedTuple):
    transaction_id: bytes
    username: bytes
    integrity: bytes  # the MESSAGE-INTEGRITY value
    integrity_at: int  # where the MESSAGE-INTEGRITY attribute starts (it covers what precedes)
    use_candidate: bool
    ice_controlling: bool  # carries ICE-CONTROLLING
    ice_controlled: bool  # carries ICE-CONTROLLED


def parse_binding_request(data: bytes) -> BindingRequest | None:
    """A Binding request laid out as ICE checks are: the attributes above, then
    MESSAGE-INTEGRITY, then a FINGERPRINT that matches, then nothing. None for anything else:
    another message, layout, attribute, a duplicate, a wrong fingerprint."""
    n = len(data)
    if n < 20 + _INTEGRITY_LEN + _FINGERPRINT_LEN:
        return None
    message_type, length, cookie, transaction_id = _HEADER.unpack_from(data)
    if message_type != BINDING_REQUEST or cookie != COOKIE or length != n - 20 or length % 4:
        return None
    seen: dict[int, bytes] = {}
    pos = 20
    while True:
        if n < pos + 4:
            return None
        attribute, size = _ATTRIBUTE.unpack_from(data, pos)
        value = data[pos + 4 : pos + 4 + size]
        after = pos + 4 + size + (-size % 4)
        if after > n:
            return None
        if attribute == MESSAGE_INTEGRITY:
            break
        if attribute in _CHECK_ATTRIBUTES:
            expected = _CHECK_ATTRIBUTES[attribute]
            if attribute in seen or (expected is not None and size != expected):
                return None
            seen[attribute] = value
        elif attribute < 0x8000 or attribute in _AIOICE_OPTIONAL:
            return None
        pos = after
    if size != 20 or USERNAME not in seen or n != pos + _INTEGRITY_LEN + _FINGERPRINT_LEN:
        return None
    if not _fingerprint_matches(data, pos + _INTEGRITY_LEN):
        return None
    return BindingRequest(
        transaction_id,
        seen[USERNAME],
        value,
        pos,
        USE_CANDIDATE in seen,
        ICE_CONTROLLING in seen,
        ICE_CONTROLLED in seen,
    )


def binding_request(
    transaction_id: bytes,
    username: str,
    priority: int,
    controlling: bool,
    tie_breaker: int,
    key: bytes,
) -> bytes:
    """A consent check (no USE-CANDIDATE), byte for byte what aioice's `build_request` and
    `add_message_integrity` make: USERNAME, PRIORITY, ICE-CONTROLLING or ICE-CONTROLLED,
    MESSAGE-INTEGRITY, FINGERPRINT."""
    name = username.encode()
    attributes = (
        _ATTRIBUTE.pack(USERNAME, len(name))
        + name
        + bytes(-len(name) % 4)
        + struct.pack("!HHI", PRIORITY, 4, priority)
        + struct.pack("!HHQ", ICE_CONTROLLING if controlling else ICE_CONTROLLED, 8, tie_breaker)
    )
    return _signed(BINDING_REQUEST, transaction_id, attributes, key)


def parse_binding_response(data: bytes) -> BindingResponse | None:
    """A Binding success response laid out as ICE agents send it: XOR-MAPPED-ADDRESS (IPv4 or
    IPv6) and unknown comprehension-optional attributes, then MESSAGE-INTEGRITY, then a
    FINGERPRINT that matches, then nothing. None for anything else (an error response too)."""
    n = len(data)
    if n < 20 + _INTEGRITY_LEN + _FINGERPRINT_LEN:
        return None
    message_type, length, cookie, transaction_id = _HEADER.unpack_from(data)
    if message_type != BINDING_SUCCESS or cookie != COOKIE or length != n - 20 or length % 4:
        return None
    pos = 20
    while True:
        if n < pos + 4:
            return None
        attribute, size = _ATTRIBUTE.unpack_from(data, pos)
        after = pos + 4 + size + (-size % 4)
        if after > n:
            return None
        if attribute == MESSAGE_INTEGRITY:
            break
        if attribute == XOR_MAPPED_ADDRESS:
            if (size, data[pos + 5]) not in ((8, 1), (20, 2)):
                return None
        elif attribute < 0x8000 or attribute in _AIOICE_OPTIONAL:
            return None
        pos = after
    if size != 20 or n != pos + _INTEGRITY_LEN + _FINGERPRINT_LEN:
        return None
    if not _fingerprint_matches(data, pos + _INTEGRITY_LEN):
        return None
    return BindingResponse(transaction_id, data[pos + 4 : pos + 24], pos)


def _fingerprint_matches(data: bytes, at: int) -> bool:
    attribute, size = _ATTRIBUTE.unpack_from(data, at)
    if attribute != FINGERPRINT or size != 4:
        return False
    # FINGERPRINT is last, so the header's length already covers it.
    return bool(struct.unpack_from("!I", data, at + 4)[0] == _fingerprint(data[:at]))


def integrity_valid(data: bytes, message: BindingRequest | BindingResponse, key: bytes) -> bool:
    """MESSAGE-INTEGRITY (HMAC-SHA1 with the short-term password) matches, as RFC 8489 14.5."""
    expected = _integrity(data[: message.integrity_at], key)
    return hmac.compare_digest(message.integrity, expected)


def binding_success(transaction_id: bytes, addr: tuple[str, int], key: bytes) -> bytes:
    """The success response to a check from `addr`: XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY,
    FINGERPRINT, byte for byte what aioice sends."""
    return _signed(BINDING_SUCCESS, transaction_id, _xor_mapped_address(transaction_id, addr), key)


def _signed(message_type: int, transaction_id: bytes, attributes: bytes, key: bytes) -> bytes:
    length = len(attributes) + _INTEGRITY_LEN + _FINGERPRINT_LEN
    signed = _HEADER.pack(message_type, length, COOKIE, transaction_id) + attributes
    signed += _ATTRIBUTE.pack(MESSAGE_INTEGRITY, 20) + _integrity(signed, key)
    return signed + _ATTRIBUTE.pack(FINGERPRINT, 4) + struct.pack("!I", _fingerprint(signed))


def _with_length(data: bytes, length: int) -> bytes:
    return data[:2] + struct.pack("!H", length) + data[4:]


def _integrity(data: bytes, key: bytes) -> bytes:
    # Computed with the header's length counting up to the end of MESSAGE-INTEGRITY.
    return hmac.digest(key, _with_length(data, len(data) - 20 + _INTEGRITY_LEN), "sha1")


def _fingerprint(data: bytes) -> int:
    # Computed with the header's length counting up to the end of FINGERPRINT.
    return zlib.crc32(_with_length(data, len(data) - 20 + _FINGERPRINT_LEN)) ^ _FINGERPRINT_XOR


def _xor_mapped_address(transaction_id: bytes, addr: tuple[str, int]) -> bytes:
    host, port = addr[0], addr[1]
    packed = ipaddress.ip_address(host).packed
    pad = struct.pack("!I", COOKIE) + transaction_id
    xored = bytes(b ^ p for b, p in zip(packed, pad, strict=False))
    family = 1 if len(packed) == 4 else 2
    value = struct.pack("!BBH", 0, family, port ^ (COOKIE >> 16)) + xored
    return _ATTRIBUTE.pack(XOR_MAPPED_ADDRESS, len(value)) + value
