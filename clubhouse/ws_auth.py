"""WebSocket authentication: the browser's session cookie, or the mobile app's allauth session
token (the same token that authenticates the REST API), given as `?token=` or in the
`Sec-WebSocket-Protocol` header as `token.<value>` (browsers cannot set other headers)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.contrib.auth.models import AnonymousUser


def _token_from_scope(scope: dict[str, Any]) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return query["token"][0]
    for name, value in scope.get("headers", []):
        if name == b"x-session-token":
            return value.decode("latin-1")
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
