"""The relay's consent-check STUN codec against aioice's own (aioice==0.13.0)."""

from __future__ import annotations

import hmac
import struct
import zlib

import pytest
from aioice import stun as aioice_stun

from media_relay import stun

TID = bytes(range(1, 13))
KEY = b"local-password-of-the-relay"


def _request(**attributes: object) -> aioice_stun.Message:
    request = aioice_stun.Message(
        aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST, transaction_id=TID
    )
    request.attributes.update({"USERNAME": "relay:client", "PRIORITY": 1853824767})
    request.attributes.update(attributes)
    return request


def _signed(request: aioice_stun.Message, key: bytes = KEY) -> bytes:
    request.add_message_integrity(key)
    return bytes(request)


@pytest.mark.parametrize("addr", [("192.0.2.7", 50_000), ("2001:db8::7", 9)])
def test_the_success_response_is_aioices_byte_for_byte(addr: tuple[str, int]) -> None:
    response = aioice_stun.Message(
        aioice_stun.Method.BINDING, aioice_stun.Class.RESPONSE, transaction_id=TID
    )
    response.attributes["XOR-MAPPED-ADDRESS"] = addr
    response.add_message_integrity(KEY)
    ours = stun.binding_success(TID, addr, KEY)
    assert ours == bytes(response)
    parsed = aioice_stun.parse_message(ours)  # checks the FINGERPRINT
    assert parsed.message_class == aioice_stun.Class.RESPONSE
    assert parsed.check_message_integrity(KEY)
    assert parsed.attributes["XOR-MAPPED-ADDRESS"] == addr


def test_a_check_is_read_and_its_integrity_verified() -> None:
    data = _signed(_request(**{"ICE-CONTROLLING": 5, "USE-CANDIDATE": None}))
    request = stun.parse_binding_request(data)
    assert request is not None
    assert request.transaction_id == TID
    assert request.username == b"relay:client"
    assert request.use_candidate
    assert request.ice_controlling
    assert not request.ice_controlled
    assert stun.integrity_valid(data, request, KEY)
    assert not stun.integrity_valid(data, request, b"another password")


def _resign(unsigned: bytes) -> bytes:
    """MESSAGE-INTEGRITY then FINGERPRINT appended to raw bytes, as RFC 8489 computes them."""

    def with_length(data: bytes, length: int) -> bytes:
        return data[:2] + struct.pack("!H", length) + data[4:]

    integrity = hmac.digest(KEY, with_length(unsigned, len(unsigned) - 20 + 24), "sha1")
    signed = unsigned + struct.pack("!HH", 0x0008, 20) + integrity
    crc = zlib.crc32(with_length(signed, len(signed) - 20 + 8)) ^ 0x5354554E
    return with_length(signed + struct.pack("!HHI", 0x8028, 4, crc), len(signed) - 20 + 8)


def _with(attribute: bytes) -> bytes:
    """A signed check carrying one more raw attribute."""
    plain = bytes(_request())
    return _resign(plain + attribute)


def test_an_unknown_comprehension_optional_attribute_is_skipped() -> None:
    data = _with(struct.pack("!HHI", 0xC057, 4, 1))  # Chrome's GOOG-NETWORK-INFO
    parsed = stun.parse_binding_request(data)
    assert parsed is not None
    assert stun.integrity_valid(data, parsed, KEY)
    assert aioice_stun.parse_message(data).check_message_integrity(KEY)


def _without_fingerprint() -> bytes:
    request = _request()
    request.add_message_integrity(KEY)
    request.attributes.pop("FINGERPRINT")
    return bytes(request)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_without_fingerprint(), id="no FINGERPRINT"),
        pytest.param(bytes(_request()), id="no MESSAGE-INTEGRITY"),
        pytest.param(_signed(_request())[:-1] + b"\0", id="wrong FINGERPRINT"),
        pytest.param(_with(b"\x80\x22\0\1x\0\0\0"), id="an attribute aioice parses"),
        pytest.param(_with(b"\x00\x7f\0\0"), id="unknown comprehension-required attribute"),
        pytest.param(_with(b"\x00\x06\0\0"), id="a second USERNAME"),
        pytest.param(_with(b"\x00\x24\0\2\0\0"), id="a second PRIORITY, 2 bytes long"),
        pytest.param(
            _signed(
                aioice_stun.Message(
                    aioice_stun.Method.ALLOCATE, aioice_stun.Class.REQUEST, transaction_id=TID
                )
            ),
            id="another method",
        ),
        pytest.param(b"\x00\x01\x00\x00" + b"\0" * 16, id="too short"),
    ],
)
def test_anything_but_a_plain_check_is_left_to_aioice(data: bytes) -> None:
    assert stun.parse_binding_request(data) is None


@pytest.mark.parametrize("controlling", [True, False])
def test_the_relays_consent_check_is_aioices_byte_for_byte(controlling: bool) -> None:
    request = aioice_stun.Message(
        aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST, transaction_id=TID
    )
    request.attributes["USERNAME"] = "client-ufrag:relay"
    request.attributes["PRIORITY"] = 1853824767
    request.attributes["ICE-CONTROLLING" if controlling else "ICE-CONTROLLED"] = 2**63 + 1
    request.add_message_integrity(KEY)
    ours = stun.binding_request(TID, "client-ufrag:relay", 1853824767, controlling, 2**63 + 1, KEY)
    assert ours == bytes(request)


@pytest.mark.parametrize("addr", [("192.0.2.7", 50_000), ("2001:db8::7", 9)])
def test_a_success_response_is_read_and_its_integrity_verified(addr: tuple[str, int]) -> None:
    data = stun.binding_success(TID, addr, KEY)
    response = stun.parse_binding_response(data)
    assert response is not None
    assert response.transaction_id == TID
    assert stun.integrity_valid(data, response, KEY)
    assert not stun.integrity_valid(data, response, b"another password")


def test_an_error_or_odd_response_is_left_to_aioice() -> None:
    error = aioice_stun.Message(
        aioice_stun.Method.BINDING, aioice_stun.Class.ERROR, transaction_id=TID
    )
    error.attributes["ERROR-CODE"] = (487, "Role Conflict")
    error.add_message_integrity(KEY)
    assert stun.parse_binding_response(bytes(error)) is None
    success = stun.binding_success(TID, ("192.0.2.7", 9), KEY)
    assert stun.parse_binding_response(success[:-1] + b"\0") is None  # wrong FINGERPRINT
    bad_family = bytearray(success)
    bad_family[25] = 3
    assert stun.parse_binding_response(bytes(bad_family)) is None
