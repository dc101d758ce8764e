"""The fan-out's direct socket write under daphne (rooms.consumers._transport_write): it may
only bypass Twisted's queue when that queue is empty, so bytes never reorder on the wire."""

from __future__ import annotations

import socket

import pytest
from twisted.internet import tcp

from rooms.consumers import _transport_write


class FakeTransport:
    """The attributes of twisted.internet.tcp.Connection that _transport_write reads."""

    def __init__(self, sock: object) -> None:
        self.socket = sock
        self.dataBuffer = b""
        self.offset = 0
        self._tempDataLen = 0
        self.connected = True
        self._writeDisconnected = False
        self.queued: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.queued.append(data)
        self._tempDataLen += len(data)


class FakeSocket:
    def __init__(self, accept: int | None = None, error: type[OSError] | None = None) -> None:
        self.accept, self.error, self.sent = accept, error, b""

    def send(self, data: bytes) -> int:
        if self.error is not None:
            raise self.error()
        taken = len(data) if self.accept is None else min(self.accept, len(data))
        self.sent += data[:taken]
        return taken


def test_an_idle_connection_sends_straight_to_the_socket() -> None:
    sock = FakeSocket()
    transport = FakeTransport(sock)
    _transport_write(transport, b"frame")
    assert sock.sent == b"frame"
    assert transport.queued == []


def test_queued_bytes_go_first_so_the_frame_waits_behind_them() -> None:
    sock = FakeSocket()
    transport = FakeTransport(sock)
    transport.write(b"earlier")
    _transport_write(transport, b"frame")
    assert sock.sent == b""
    assert transport.queued == [b"earlier", b"frame"]


def test_a_partly_flushed_buffer_also_counts_as_queued() -> None:
    sock = FakeSocket()
    transport = FakeTransport(sock)
    transport.dataBuffer, transport.offset = b"abcdef", 2
    _transport_write(transport, b"frame")
    assert sock.sent == b""
    assert transport.queued == [b"frame"]


def test_what_the_kernel_does_not_take_is_queued_in_order() -> None:
    sock = FakeSocket(accept=2)
    transport = FakeTransport(sock)
    _transport_write(transport, b"frame")
    assert sock.sent == b"fr"
    assert transport.queued == [b"ame"]


@pytest.mark.parametrize("error", [BlockingIOError, InterruptedError, ConnectionResetError])
def test_a_socket_that_cannot_take_it_now_hands_the_frame_to_twisted(error) -> None:
    transport = FakeTransport(FakeSocket(error=error))
    _transport_write(transport, b"frame")
    assert transport.queued == [b"frame"]


def test_a_transport_without_a_socket_such_as_tls_uses_its_own_write() -> None:
    transport = FakeTransport(None)
    del transport.socket
    _transport_write(transport, b"frame")
    assert transport.queued == [b"frame"]


def test_twisted_still_has_the_attributes_the_direct_write_relies_on() -> None:
    """Fails loudly if a Twisted upgrade renames the queue the direct write checks."""
    left, right = socket.socketpair()
    try:
        connection = tcp.Connection(left, protocol=None)
        for name in (
            "socket",
            "dataBuffer",
            "offset",
            "_tempDataLen",
            "connected",
            "_writeDisconnected",
        ):
            assert hasattr(connection, name), f"twisted.internet.tcp.Connection.{name} is gone"
    finally:
        left.close()
        right.close()
