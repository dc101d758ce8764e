"""Frames on the wire: parsing and checking what clients send, encoding what the server sends.

Every client frame is a JSON object `{"id": "<request id>", "type": "<type>", ...payload}`.
Every request is answered by exactly one `reply` or `error` frame carrying the same `id`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# A push on a user's channel that is never forwarded as it is: the account was disabled (a ban,
# rooms.realtime.broadcast.user_account_disabled), so each of the person's sockets answers the
# `account_disabled` error and closes with 4403.
ACCOUNT_DISABLED = "account.disabled"

# An un-sequenced push to every socket of a room: room events may have been missed (this web
# process's Redis subscription was lost and is back), so fetch `room.snapshot` now rather than
# at the next event's `seq` gap (docs/protocol.md, "Pushes, `seq` and the snapshot").
ROOM_RESYNC = "room.resync"
# The error code of a `room.join` the process is too busy to take now (rooms/realtime/admission.py):
# the frame carries `retry_after`, in milliseconds, jittered.
ROOM_BUSY = "room_busy"

# A request id is chosen by the client; it only needs to be short and printable.
_ID_MAX_LENGTH = 64
# No request needs more than a few levels (`{"candidate": {...}}`); a frame nesting deeper is
# refused before the nesting can cost anything (json's own limit is Python's recursion limit,
# and hitting it is a RecursionError with a traceback, not a ValueError).
MAX_DEPTH = 32
_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


class FrameError(Exception):
    """A frame the server cannot act on. Rendered as an `error` frame; the socket stays open."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        request_id: str | None = None,
        fields: dict[str, list[str]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.fields = fields or {}
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Request:
    id: str
    type: str
    payload: dict[str, Any]


def parse_request(text: str | None, *, max_bytes: int) -> Request:
    """Turn one text frame into a Request, or raise FrameError with a stable code."""
    if text is None:
        raise FrameError("malformed", "Binary frames are not supported; send JSON text.")
    # len(text) counts characters, each at least one byte: a cheap first check, exact second.
    if len(text) > max_bytes or (len(text) * 4 > max_bytes and len(text.encode()) > max_bytes):
        raise FrameError("too_large", f"Frames are limited to {max_bytes} bytes.")
    if _nesting_exceeds(text, MAX_DEPTH):
        raise FrameError("malformed", f"The frame nests deeper than {MAX_DEPTH} levels.")
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        raise FrameError("malformed", "The frame is not valid JSON.") from None
    if not isinstance(frame, dict):
        raise FrameError("malformed", "A frame must be a JSON object.")
    request_id = frame.pop("id", None)
    if not isinstance(request_id, str) or not request_id or len(request_id) > _ID_MAX_LENGTH:
        raise FrameError(
            "invalid",
            "Every request needs an `id`: a string of 1 to 64 characters.",
            request_id=request_id if isinstance(request_id, str) else None,
            fields={"id": ["A string of 1 to 64 characters is required."]},
        )
    frame_type = frame.pop("type", None)
    if not isinstance(frame_type, str) or not _TYPE_PATTERN.match(frame_type):
        raise FrameError(
            "invalid",
            "Every request needs a `type`, such as `room.join`.",
            request_id=request_id,
            fields={"type": ["A frame type such as `room.join` is required."]},
        )
    return Request(id=request_id, type=frame_type, payload=frame)


def _nesting_exceeds(text: str, limit: int) -> bool:
    """Whether any array/object in `text` opens more than `limit` levels deep (brackets inside
    strings do not count). Nearly every frame has fewer brackets than the limit in total and is
    answered by two C-speed counts."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def require_int(request: Request, name: str) -> int:
    value = request.payload.get(name)
    # bool is an int in Python; a JSON `true` is not a room id.
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise FrameError(
            "invalid",
            f"`{name}` must be a positive integer.",
            request_id=request.id,
            fields={name: ["A positive integer is required."]},
        )
    return value


def optional_int(request: Request, name: str) -> int | None:
    if request.payload.get(name) is None:
        return None
    return require_int(request, name)


def dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), default=str)


def reply(request_id: str, data: Any) -> str:
    return dumps({"type": "reply", "id": request_id, "data": data})


def error(
    code: str,
    message: str,
    *,
    request_id: str | None = None,
    fields: dict[str, list[str]] | None = None,
    retry_after: int | None = None,
) -> str:
    frame: dict[str, Any] = {
        "type": "error",
        "id": request_id,
        "code": code,
        "message": message,
        "fields": fields or {},
    }
    if retry_after is not None:
        frame["retry_after"] = retry_after  # milliseconds
    return dumps(frame)


def room_busy(request_id: str, retry_after: int) -> FrameError:
    """The answer to a `room.join` this process cannot take now; the client retries after
    `retry_after` milliseconds."""
    return FrameError(
        ROOM_BUSY,
        "The room is busy; joining again in a moment.",
        request_id=request_id,
        retry_after=retry_after,
    )


class TokenBucket:
    """Per-socket rate limit: `rate` frames a second on average, bursts up to `burst`."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False
