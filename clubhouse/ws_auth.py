"""WebSocket authentication: the browser's session cookie, or the mobile app's allauth session
token (the same token that authenticates the REST API), given in an `X-Session-Token` or
`Authorization: Bearer` header, or in the `Sec-WebSocket-Protocol` header as `token.<value>`
(browsers cannot set other headers).

A token in the URL (`?token=`) is refused: URLs end up in proxy, load balancer and server access
logs, and a session token there is a login for whoever reads them. The socket is marked
`auth_method = "token_in_url"`; the consumer answers `token_in_url` and closes with 4400."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.contrib.auth.models import AnonymousUser

TOKEN_IN_URL = "token_in_url"  # noqa: S105 (an error code, not a secret)


def _token_in_url(scope: dict[str, Any]) -> bool:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    return "token" in query


def _token_from_scope(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-session-token":
            return value.decode("latin-1")
        if name == b"authorization":
            scheme, _, given = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and given.strip():
                return given.strip()
    for proto in scope.get("subprotocols", []):
        if proto.startswith("token."):
            return proto.removeprefix("token.")
    return None


@database_sync_to_async
def user_for_session_token(token: str) -> Any:
    from allauth.headless.internal.sessionkit import authenticate_by_x_session_token

    found = authenticate_by_x_session_token(token)
    if found is None:
        return None
    user, _session = found
    return user if user.is_active else None


class _TokenAuthMiddleware(AuthMiddleware):
    async def resolve_scope(self, scope: dict[str, Any]) -> None:
        if _token_in_url(scope):
            scope["user"]._wrapped = AnonymousUser()
            scope["auth_method"] = TOKEN_IN_URL
            return
        token = _token_from_scope(scope)
        if token:
            user = await user_for_session_token(token)
            scope["user"]._wrapped = user or AnonymousUser()
            scope["auth_method"] = "token" if user else "invalid_token"
            return
        await super().resolve_scope(scope)
        scope["auth_method"] = "session"


def TokenOrSessionAuthMiddleware(inner: Any) -> Any:
    return CookieMiddleware(SessionMiddleware(_TokenAuthMiddleware(inner)))
