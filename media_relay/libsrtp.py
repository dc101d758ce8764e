"""pylibsrtp's own libsrtp, reached through its cffi binding (pylibsrtp==1.0.0), for both of the
relay's send loops and its receive path:

* `fast_protect` / `fast_unprotect`: `Session.protect` / `unprotect` on the session's own context
  and buffer, without the per-call allocation (`aiortc_internals.send`'s Python send loop and
  `aiortc_internals.receive`'s `SocketDemux`);
* `srtp_protect_address` / `srtp_context_address`: the address of `srtp_protect` and of a
  session's libsrtp context, for the C send loop (`media_relay.fastpath`), so both loops encrypt
  with the same library and the same per-session state (rollover counter, replay window).

A leaf: it imports nothing from media_relay, so `media_relay.fastpath` and
`media_relay.aiortc_internals` both import it at the top and neither imports the other back (the
internals import `fastpath`). With `aiortc_internals`, it is the only code that reaches into a
WebRTC library's private parts (here pylibsrtp's binding and a Session's context and buffer).
`AiortcInternalsError` is defined here, in the lowest module that raises it;
`aiortc_internals.checks` raises it for aiortc and aioice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pylibsrtp
from pylibsrtp import _binding

_SRTP_MAX_TRAILER_LEN = 144  # pylibsrtp.SRTP_MAX_TRAILER_LEN
_SRTCP_MAX_TRAILER_LEN = 148  # pylibsrtp.SRTP_MAX_SRTCP_TRAILER_LEN
# libsrtp 2.x's signature, as pylibsrtp==1.0.0 declares it (media_relay/fastpath.c calls it).
_SRTP_PROTECT_TYPE = "<ctype 'srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)'>"


class AiortcInternalsError(RuntimeError):
    """aiortc, aioice or pylibsrtp no longer looks the way the relay needs; see the message for
    the attribute."""


def fast_protect(session: Any, rtcp: bool = False) -> Callable[[bytes], bytes]:
    """pylibsrtp's `Session.protect` (or `protect_rtcp`) without its per-call allocation and
    checks (pylibsrtp==1.0.0).

    Same libsrtp call on the session's own context and buffer; the result is copied out before the
    next call, so the outlets sharing one listener's session can share the buffer."""
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

    return int(_binding.ffi.cast("uintptr_t", session._srtp[0]))
