"""ICE consent freshness (RFC 7675) on the relay's connections, with aioice's semantics
(aioice==0.13.0, `checks.AIOICE_VERSION`) and less of its per-check cost:

* `answer_consent_check` answers a client's consent check on the nominated pair from the socket
  callback (`receive.SocketDemux`), in place of aioice's `request_received`.
* `ConsentFreshness` (installed by `lean_consent`) runs the relay's own consent checks in place
  of aioice's `query_consent` task and STUN transactions.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from typing import Any

import aioice.ice
import aioice.stun
from aioice.candidate import candidate_priority
from aioice.ice import CandidatePair

from media_relay import stun
from media_relay.aiortc_internals.checks import FAST_OUTLETS, ICE_CONSENT, check_consent_internals

logger = logging.getLogger(__name__)

_PAIR_SUCCEEDED = CandidatePair.State.SUCCEEDED


def answer_consent_check(
    connection: Any, protocol: Any, data: bytes, addr: tuple[Any, ...]
) -> bool:
    """Answer a STUN Binding request that is a consent check on the nominated pair (RFC 7675),
    and do what aioice's `Connection.request_received` and `check_incoming` would do with it;
    False (nothing done) for anything those would treat otherwise.

    aioice parses every request with its generic parser and builds the response three times
    over; with the relay's own checks, aioice's STUN was ~17% of the sampled relay CPU at 10
    listeners. Left to aioice, so its errors and ICE behaviour stay its own: other messages and
    layouts (`stun.parse_binding_request`), a wrong USERNAME or MESSAGE-INTEGRITY (its 401),
    role-conflict attributes (its 487 or role switch), any address or socket but the nominated
    pair's, a connection closing or whose early checks are pending.
    """
    request = stun.parse_binding_request(data)
    if request is None or connection._closing or not connection._early_checks_done:
        return False
    addr = (addr[0], addr[1])  # aioice forces an IPv6 four-tuple to a two-tuple
    pair = connection._nominated.get(protocol.local_candidate.component)
    if pair is None or _incoming_pair(connection, protocol, addr) is not pair:
        return False
    if pair.state is not _PAIR_SUCCEEDED:  # aioice would start a triggered check
        return False
    controlling = connection.ice_controlling
    if request.ice_controlling if controlling else request.ice_controlled:
        return False
    remote_username = connection.remote_username
    if remote_username is None:
        return False
    if request.username != f"{connection.local_username}:{remote_username}".encode():
        return False
    key = connection.local_password.encode()
    if not stun.integrity_valid(data, request, key):
        return False
    protocol.transport.sendto(stun.binding_success(request.transaction_id, addr, key), addr)
    if request.use_candidate and not controlling:  # RFC 8445 7.3.1.5, as check_incoming does
        pair.remote_nominated = True
        pair.nominated = True
        connection.check_complete(pair)
    return True


def _incoming_pair(connection: Any, protocol: Any, addr: tuple[Any, ...]) -> Any:
    # The pair aioice's check_incoming finds for a check: the first remote candidate at this
    # address, then the first pair of it on this socket.
    for candidate in connection._remote_candidates:
        if candidate._network_host == addr[0] and candidate.port == addr[1]:
            break
    else:
        return None
    for pair in connection._check_list:
        if pair.protocol == protocol and pair.remote_candidate == candidate:
            return pair
    return None


class ConsentFreshness:
    """The relay's own consent checks on one connection (RFC 7675), in place of aioice's
    `Connection.query_consent` task (installed by `lean_consent`, before ICE connects).

    aioice's loop per check: a task wake-up from its sleep, a `stun.Message` serialised three
    times, a `Transaction` (a future and a timer) and its await, and the response through the
    generic parser. Here: one timer, the request built with `media_relay.stun`, the response
    matched by transaction id in the socket callback (`response_bytes`), or, before the
    transport has a `SocketDemux` or for a response laid out otherwise, by aioice's own parser,
    through `protocol.transactions` where this object stands in for a `Transaction`
    (`response_received`).

    The semantics are aioice 0.13.0's: every CONSENT_INTERVAL x 0.8-1.2 after the previous round
    ended, one Binding request per nominated pair, in turn, no retransmission, RETRY_RTO (0.5 s)
    for an answer authenticated with the remote password; a success resets the failure count, an
    authenticated error or a timeout adds one, and at CONSENT_FAILURES the connection is closed
    from the task aioice would have run (`run`), which `Connection.close()` cancels.
    """

    __slots__ = (
        "_connection",
        "_expired",
        "_pairs",
        "_protocol",
        "_timer",
        "_transaction",
        "failures",
        "lean_responses",
        "requests",
    )

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._expired: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._pairs: list[Any] = []
        self._protocol: Any = None
        self._transaction: bytes | None = None
        self.failures = 0
        self.requests = 0
        self.lean_responses = 0

    async def run(self) -> None:
        """Stands in for `Connection.query_consent`: aioice runs it as its consent task."""
        self._expired = asyncio.get_running_loop().create_future()
        self._sleep()
        try:
            await self._expired
        finally:
            self._stop()
        logger.info("%s Consent to send expired", self._connection)
        # aioice closes the sockets before the DTLS transport leaves "connected": the C send loop
        # must stop using this connection's socket first (its fd may be reused once closed).
        for outlet in list(getattr(self._connection, FAST_OUTLETS, ())):
            outlet.fast_disable()
        self._connection._query_consent_task = None
        await self._connection.close()

    def response_bytes(self, data: bytes, protocol: Any) -> bool:
        """A datagram from the socket callback that may answer the pending check. False leaves
        it to aioice (which passes it to `response_received` if its transaction id is ours)."""
        transaction = self._transaction
        if transaction is None or protocol is not self._protocol or data[8:20] != transaction:
            return False
        response = stun.parse_binding_response(data)
        if response is None:
            return False
        if stun.integrity_valid(data, response, self._connection.remote_password.encode()):
            self.lean_responses += 1
            self._done(success=True)
        return True  # unauthenticated: ignored, as aioice's Transaction ignores it

    def response_received(self, message: Any, addr: tuple[str, int]) -> None:
        """aioice's `Transaction.response_received`, for a response its parser read."""
        if not message.check_message_integrity(self._connection.remote_password.encode()):
            return
        self._done(success=message.message_class == aioice.stun.Class.RESPONSE)

    def _sleep(self) -> None:
        delay = aioice.ice.CONSENT_INTERVAL * (0.8 + 0.4 * random.random())
        self._timer = asyncio.get_running_loop().call_later(delay, self._round)

    def _round(self) -> None:
        if self._connection._closing:  # close() is cancelling `run`
            return
        self._pairs = list(self._connection._nominated.values())
        self._next()

    def _next(self) -> None:
        if not self._pairs:
            self._sleep()
            return
        pair = self._pairs.pop(0)
        connection = self._connection
        transaction = secrets.token_bytes(12)
        request = stun.binding_request(
            transaction,
            f"{connection.remote_username}:{connection.local_username}",
            candidate_priority(pair.component, "prflx"),
            connection.ice_controlling,
            connection._tie_breaker,
            connection.remote_password.encode(),
        )
        self._transaction, self._protocol = transaction, pair.protocol
        pair.protocol.transactions[transaction] = self
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(aioice.stun.RETRY_RTO, self._done, False)
        self.requests += 1
        pair.protocol.transport.sendto(request, pair.remote_addr)

    def _done(self, success: bool) -> None:
        self._forget_transaction()
        self.failures = 0 if success else self.failures + 1
        if self.failures >= aioice.ice.CONSENT_FAILURES:
            if self._expired is not None and not self._expired.done():
                self._expired.set_result(None)
            return
        self._next()

    def _forget_transaction(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transaction is not None:
            self._protocol.transactions.pop(self._transaction, None)
            self._transaction = None

    def _stop(self) -> None:
        self._forget_transaction()
        self._pairs = []


def lean_consent(pc: Any) -> None:
    """Give each ICE connection of this peer connection a `ConsentFreshness` in place of aioice's
    consent task. Call before ICE connects (right after setRemoteDescription)."""
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport._connection
        if getattr(connection, ICE_CONSENT, None) is None:
            check_consent_internals(connection)
            consent = ConsentFreshness(connection)
            setattr(connection, ICE_CONSENT, consent)
            # aioice's connect() starts `self.query_consent()`: the instance attribute shadows
            # its method, so the consent task runs `ConsentFreshness.run` instead.
            connection.query_consent = consent.run


def consent_of(connection: Any) -> ConsentFreshness | None:
    consent: ConsentFreshness | None = getattr(connection, ICE_CONSENT, None)
    return consent
