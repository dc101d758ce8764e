"""The Python side of the relay's C send loop (`fastpath.c`, built into `media_relay._fastpath`).

Per forwarded packet the pure-Python fan-out runs, for every listener, a bytes concatenation, two
Python calls (the outlet's `send` and the protect closure), cffi buffer copies in and out and
`socket.sendto` with its address parsing. In the relay process every packet arrives at a cold
interpreter (the process sleeps 20 ms between a speaker's packets), so that per-listener Python is
the largest part of the relay's CPU at small rooms and all of its growth with the room. The C loop
does the three steps that must happen per listener (copy with the listener's SSRC, SRTP protect
with libsrtp, `sendto`) for all listeners of a packet in one call.

What stays in Python: every decision (who hears whom, slots, mute, DTX, the rewritten header, which
is built once per negotiated layout as before), and the targets' lifecycle. Each `RtpOutlet` owns
one `relay_target` struct (`new_target`); it fills it when its listener's DTLS transport connects
(`target_set`) and disables it (fd -1) when the transport leaves that state, so the loop never
needs to ask Python whether a listener is connected. The Forwarder keeps a C array of target
pointers per slot and layout (`TargetArray`), rebuilt when membership changes, like its Python
lists.

libsrtp is pylibsrtp's own copy: `srtp_protect`'s address and each session's context pointer are
taken from its cffi binding (`media_relay.libsrtp`: `srtp_protect_address` /
`srtp_context_address`, checked at import so an upgrade fails loudly), so both loops encrypt with
the same library and the same per-session state (rollover counter, replay window).

Built by `make` (`python -m media_relay.fastpath_build`, needs a C compiler). Without it, or with
`RELAY_FASTPATH=0` in the environment, `available()` is False and the relay uses the Python loop;
`status()` says which in `/healthz` and the relay's metrics.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from media_relay.libsrtp import srtp_protect_address

_lib: Any = None
_ffi: Any = None
_reason = ""


def _load() -> None:
    global _lib, _ffi, _reason
    if os.environ.get("RELAY_FASTPATH", "1").strip().lower() in {"0", "false", "no", "off"}:
        _reason = "disabled (RELAY_FASTPATH=0)"
        return
    try:
        # By name, not a plain import: the extension is a build product (`make`) that may be
        # absent, and mypy and import-linter should not treat it as a module of the source tree.
        module = importlib.import_module("media_relay._fastpath")
    except ImportError:
        _reason = "not built (run `make` or `python -m media_relay.fastpath_build`)"
        return
    module.lib.relay_set_protect(module.ffi.cast("void *", srtp_protect_address()))
    _lib, _ffi = module.lib, module.ffi


_load()


def available() -> bool:
    return _lib is not None


def status() -> str:
    return "c" if _lib is not None else f"python: {_reason}"


def new_target(listener: int) -> Any:
    """A zeroed, disabled `relay_target` for one outlet (kept alive by its owner)."""
    target = _ffi.new("struct relay_target *")
    target.fd = -1
    target.listener = listener
    return target


def target_set(
    target: Any, srtp_context: int, fd: int, address: tuple[Any, ...], ssrc: int
) -> bool:
    """Point `target` at a connected listener: its libsrtp context, ICE socket and remote address.
    False (and the target stays disabled) if the address is not a numeric IPv4/IPv6 one."""
    host, port = str(address[0]), int(address[1])
    ok = _lib.relay_target_set(
        target, _ffi.cast("void *", srtp_context), fd, host.encode(), port, ssrc
    )
    if ok != 0:
        target.fd = -1
        return False
    return True


def target_disable(target: Any) -> None:
    target.fd = -1


class TargetArray:
    """A C array of `relay_target *` for one fan-out group; holds its targets alive."""

    __slots__ = ("_send", "_skipped", "count", "keep", "pointers")

    def __init__(self, targets: list[Any]) -> None:
        self.keep = list(targets)
        self.count = len(targets)
        self.pointers = _ffi.new("struct relay_target *[]", self.keep)
        self._skipped = _ffi.new("int *")
        self._send = _lib.relay_fan_send

    def send(self, head: bytes, tail: bytes, payload_octets: int, exclude: int) -> tuple[int, int]:
        """(sent, skipped) for one packet: `head` is the first 8 header bytes, `tail` what
        follows the SSRC; `exclude` is the speaker's own listener id."""
        skipped = self._skipped
        sent = self._send(
            self.pointers, self.count, head, tail, len(tail), payload_octets, exclude, skipped
        )
        return sent, skipped[0]
