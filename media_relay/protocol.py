"""The relay protocol: every message between the web tier and relay workers, and between workers,
defined once (docs/relay.md, "The relay protocol").

Each message is a frozen dataclass whose `TYPE` is its wire type (`relay.*`). `encode` turns one
into the dict the channel layer carries, with the protocol version under `v`; `decode` turns a
received dict back into a message and validates it, raising `MessageError` when the type is not
one of this protocol's (or not one the receiver takes), the version is not `VERSION`, or a field
is missing or of the wrong type. Receivers never let a bad message through, and never let it stop
them: `receive` (and the worker, which also answers the sender) logs it and counts it in
`rejected`.

Which messages go where:

- commands to a worker (`relay.<worker_id>`), from a room socket or from the web tier on commit
  of a room event: `RoomState`, `Offer`, `Ice`, `Mute`, `MoveToAudience`, `Remove`, `End`;
- between workers (same channels, cascading, media_relay/cascade.py): `PipeSubscribe`,
  `PipeUnsubscribe`, `PipeIdle` (a worker to itself), and `RoomState` / `End` from an origin to
  its edges;
- replies to a socket's reply channel: `Answer`, `IceAdded`, `Error`, `PeerClosed`;
- room events to the group `relay.room.<room_id>`: `Speaking`.

Optional fields left out (None) are not written; a field absent or None on the wire takes its
default.

The envelope (beside `type` and `v`) may carry `rid`: the request id (clubhouse/logs.py) of the
HTTP request, socket frame or command that caused the message, so a worker's log lines for a
command name the request that sent it. `encode` writes the current one, if any; `decode` refuses a
malformed one and ignores its absence (messages from before it decode as they did);
`request_id_of` reads it. It is not a field of any message: the `request_id` of `Offer`, `Ice`
and the replies is a client's own id for its frame, which the reply echoes.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar, overload

from clubhouse.logs import MAX_LENGTH as REQUEST_ID_MAX_LENGTH
from clubhouse.logs import request_id, request_id_valid

logger = logging.getLogger(__name__)

VERSION = 1
VERSION_KEY = "v"
REQUEST_ID_KEY = "rid"  # optional, in the envelope (see above)

# MessageError codes (also the `code` of the `relay.error` a worker answers a bad command with).
UNKNOWN_TYPE = "unknown_type"  # not a type of this protocol, or not one this receiver takes
BAD_VERSION = "bad_version"  # another protocol version (or none)
BAD_MESSAGE = "bad_message"  # a field missing or of the wrong type


class MessageError(ValueError):
    """A received dict that is not a message of this protocol (for this receiver)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


# --- commands to a worker --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoomState:
    """Who may publish and who is muted, at the room's `seq` (None: from an origin to an edge)."""

    TYPE: ClassVar[str] = "relay.room_state"
    room_id: int
    speakers: tuple[int, ...] = ()
    muted: tuple[int, ...] = ()
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Offer:
    """A member's SDP offer; answered on `reply_to` (`Answer` or `Error`). `seq`: the room state
    the web tier's membership check saw (an offer older than the member's removal is refused)."""

    TYPE: ClassVar[str] = "relay.offer"
    room_id: int
    user_id: int
    sdp: str
    reply_to: str
    request_id: str | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Ice:
    """A trickled remote candidate `{candidate, sdpMid, sdpMLineIndex}` (empty `candidate`: the
    end of candidates). With `reply_to` and `request_id`, answered `IceAdded` or `Error`."""

    TYPE: ClassVar[str] = "relay.ice"
    room_id: int
    user_id: int
    candidate: dict[str, Any] = field(default_factory=dict)
    reply_to: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Mute:
    TYPE: ClassVar[str] = "relay.mute"
    room_id: int
    user_id: int
    muted: bool = True
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class MoveToAudience:
    TYPE: ClassVar[str] = "relay.move_to_audience"
    room_id: int
    user_id: int
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Remove:
    """Close a member's connection (with `if_channel`: only if its offer came from that reply
    channel). Reason `removed` with a `seq`: the room took them out; the worker remembers it."""

    TYPE: ClassVar[str] = "relay.remove"
    room_id: int
    user_id: int
    reason: str = "removed"
    seq: int | None = None
    if_channel: str | None = None


@dataclass(frozen=True, slots=True)
class End:
    TYPE: ClassVar[str] = "relay.end"
    room_id: int


# --- between workers (cascading) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PipeSubscribe:
    """Edge → origin: pipe the room's speakers to me; my datagrams carry `token` (16 hex digits)
    and are sealed with `key` (AES-128-GCM, 32 hex digits), both fresh for each subscription."""

    TYPE: ClassVar[str] = "relay.pipe_subscribe"
    room_id: int
    worker_id: str
    token: str
    key: str

    def __post_init__(self) -> None:
        if len(bytes.fromhex(self.token)) != 8:  # ValueError for what is not hex
            raise ValueError("`token` must be 8 bytes in hex")
        if len(bytes.fromhex(self.key)) != 16:
            raise ValueError("`key` must be 16 bytes in hex")

    @property
    def token_bytes(self) -> bytes:
        return bytes.fromhex(self.token)

    @property
    def key_bytes(self) -> bytes:
        return bytes.fromhex(self.key)


@dataclass(frozen=True, slots=True)
class PipeUnsubscribe:
    TYPE: ClassVar[str] = "relay.pipe_unsubscribe"
    room_id: int
    worker_id: str


@dataclass(frozen=True, slots=True)
class PipeIdle:
    """A worker to itself, after an edge's member left: leave the room if nobody is left."""

    TYPE: ClassVar[str] = "relay.pipe_idle"
    room_id: int


# --- replies to a socket's reply channel -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    TYPE: ClassVar[str] = "relay.answer"
    room_id: int
    user_id: int
    sdp: str
    worker_id: str
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class IceAdded:
    TYPE: ClassVar[str] = "relay.ice_added"
    room_id: int
    user_id: int
    request_id: str


@dataclass(frozen=True, slots=True)
class Error:
    """The worker's refusal of a command that has a `reply_to` (docs/relay.md lists the codes)."""

    TYPE: ClassVar[str] = "relay.error"
    code: str
    message: str
    room_id: int | None = None
    user_id: int | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class PeerClosed:
    TYPE: ClassVar[str] = "relay.peer_closed"
    room_id: int
    user_id: int
    reason: str


# --- room events ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Speaking:
    """A publisher started or stopped speaking; `level` in -dBov (0 loudest, 127 silence)."""

    TYPE: ClassVar[str] = "relay.speaking"
    room_id: int
    user_id: int
    speaking: bool
    level: int = 127


Command = RoomState | Offer | Ice | Mute | MoveToAudience | Remove | End
PipeMessage = PipeSubscribe | PipeUnsubscribe | PipeIdle
WorkerMessage = Command | PipeMessage
Reply = Answer | IceAdded | Error | PeerClosed
Message = WorkerMessage | Reply | Speaking

COMMANDS: tuple[type[Command], ...] = (RoomState, Offer, Ice, Mute, MoveToAudience, Remove, End)
PIPE_MESSAGES: tuple[type[PipeMessage], ...] = (PipeSubscribe, PipeUnsubscribe, PipeIdle)
WORKER_MESSAGES: tuple[type[WorkerMessage], ...] = COMMANDS + PIPE_MESSAGES
REPLIES: tuple[type[Reply], ...] = (Answer, IceAdded, Error, PeerClosed)
EVENTS: tuple[type[Speaking], ...] = (Speaking,)
MESSAGES: tuple[type[Message], ...] = WORKER_MESSAGES + REPLIES + EVENTS
# Commands a worker drops when their `seq` is older than the room's last applied one.
STATE_COMMANDS = (RoomState, Mute, MoveToAudience)

MESSAGE_TYPES: dict[str, type[Message]] = {cls.TYPE: cls for cls in MESSAGES}
# Each type's fields and their types, as `decode` checks them.
_HINTS: dict[str, dict[str, Any]] = {cls.TYPE: typing.get_type_hints(cls) for cls in MESSAGES}

M = TypeVar("M", bound=Message)


# --- encoding ---------------------------------------------------------------------------------


def encode(message: Message) -> dict[str, Any]:
    """The dict the channel layer carries (msgpack or in memory: lists, not tuples), with the
    current request id, if any."""
    wire: dict[str, Any] = {"type": message.TYPE, VERSION_KEY: VERSION}
    rid = request_id.get()
    if rid is not None:
        wire[REQUEST_ID_KEY] = rid
    for f in dataclasses.fields(message):
        value = getattr(message, f.name)
        if value is None:
            continue
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, dict):
            value = dict(value)
        wire[f.name] = value
    return wire


@overload
def decode(raw: Any) -> Message: ...
@overload
def decode(raw: Any, accept: tuple[type[M], ...]) -> M: ...
def decode(raw: Any, accept: tuple[type[Any], ...] = MESSAGES) -> Any:
    """The message `raw` carries, validated; `MessageError` if it is none of `accept`."""
    if not isinstance(raw, Mapping):
        raise MessageError(BAD_MESSAGE, "A relay message is a mapping.")
    kind = raw.get("type")
    cls = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None or cls not in accept:
        raise MessageError(UNKNOWN_TYPE, f"Unknown relay message type {kind!r}.")
    version = raw.get(VERSION_KEY)
    if isinstance(version, bool) or version != VERSION:
        raise MessageError(
            BAD_VERSION, f"{kind} is of protocol version {version!r}; this is version {VERSION}."
        )
    rid = raw.get(REQUEST_ID_KEY)
    if rid is not None and not request_id_valid(rid):
        raise MessageError(
            BAD_MESSAGE,
            f"{kind}: `{REQUEST_ID_KEY}` must be a request id (1 to {REQUEST_ID_MAX_LENGTH} "
            "printable characters, no spaces).",
        )
    hints = _HINTS[cls.TYPE]
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        value = raw.get(f.name)
        if value is None:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise MessageError(BAD_MESSAGE, f"{kind}: `{f.name}` is required.")
            continue
        try:
            values[f.name] = _checked(hints[f.name], value)
        except (TypeError, ValueError):
            raise MessageError(
                BAD_MESSAGE, f"{kind}: `{f.name}` must be {_describe(hints[f.name])}."
            ) from None
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:  # a message's own check (`__post_init__`)
        raise MessageError(BAD_MESSAGE, f"{kind}: {exc}") from None


def request_id_of(raw: Mapping[str, Any]) -> str | None:
    """The request id a decoded message's envelope carries (None: none)."""
    rid = raw.get(REQUEST_ID_KEY)
    return rid if request_id_valid(rid) else None


# How many received dicts were dropped, by MessageError code, in this process.
rejected: collections.Counter[str] = collections.Counter()


def reject(raw: Any, error: MessageError, receiver: str) -> None:
    """Log and count a received dict that is not a message for `receiver`."""
    rejected[error.code] += 1
    kind = raw.get("type") if isinstance(raw, Mapping) else type(raw).__name__
    logger.warning("relay protocol: %s dropped a %r message: %s", receiver, kind, error.detail)


def receive(raw: Any, accept: tuple[type[M], ...], receiver: str) -> M | None:
    """`decode`, or None (logged and counted) for what is not a message for `receiver`."""
    try:
        return decode(raw, accept)
    except MessageError as error:
        reject(raw, error, receiver)
        return None


def _checked(hint: Any, value: Any) -> Any:
    """`value` as the field type `hint` takes it; TypeError if it is not one."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):  # X | None; None was handled by the caller
        (inner,) = (arg for arg in typing.get_args(hint) if arg is not type(None))
        return _checked(inner, value)
    if origin is tuple:  # tuple[int, ...]
        if not isinstance(value, list | tuple):
            raise TypeError(hint)
        item = typing.get_args(hint)[0]
        return tuple(_checked(item, v) for v in value)
    if origin is dict:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise TypeError(hint)
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError(hint)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(hint)
        return value
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(hint)
        return value
    raise TypeError(hint)  # a field type this decoder does not know: a bug here, caught by tests


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        (inner,) = (arg for arg in typing.get_args(hint) if arg is not type(None))
        return _describe(inner)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return "a list of integers" if item is int else f"a list of {_describe(item)}"
    if origin is dict:
        return "an object"
    return {bool: "a boolean", int: "an integer", str: "a string"}.get(hint, str(hint))
