"""The ICE servers a member's browser or app uses to reach the relay (issue #22, point 1).

STUN URLs as configured, and TURN URLs with a credential minted for the member by the TURN REST
API scheme coturn checks with `use-auth-secret` / `static-auth-secret`: the username is
`"<expiry unix time>:<user id>"`, the credential base64(HMAC-SHA1(secret, username)). coturn
refuses the username once its expiry time has passed, so nothing is stored and no call to
coturn is made; the web tier and coturn share only the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

from media_relay import conf


@dataclass(frozen=True)
class TurnCredential:
    username: str
    credential: str
    expires_at: int  # unix time


def turn_credential_mint(secret: str, user_id: int, expires_at: int) -> TurnCredential:
    username = f"{expires_at}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return TurnCredential(username, base64.b64encode(digest).decode("ascii"), expires_at)


def member_ice_servers(user_id: int, now: float | None = None) -> dict[str, Any]:
    """`{"ice_servers": [RTCIceServer...], "expires_at": unix time or None, "ttl_seconds"}`:
    what a member's RTCPeerConnection is built with. `expires_at` is when the TURN credential
    stops working (None without TURN); clients fetch new servers before it, and every new
    connection (an ICE restart here is a new offer) is built with fresh ones."""
    servers: list[dict[str, Any]] = []
    stun = conf.stun_urls() or [
        url for url in conf.ice_servers() if url.startswith(("stun:", "stuns:"))
    ]
    if stun:
        servers.append({"urls": stun})
    expires_at: int | None = None
    ttl = conf.turn_ttl_s()
    turn = conf.turn_urls()
    if turn:
        expires_at = int(now if now is not None else time.time()) + ttl
        minted = turn_credential_mint(conf.turn_secret(), user_id, expires_at)
        servers.append({"urls": turn, "username": minted.username, "credential": minted.credential})
    return {
        "ice_servers": servers,
        "expires_at": expires_at,
        "ttl_seconds": ttl if turn else None,
    }
