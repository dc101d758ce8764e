"""The one family of errors users can read.

Services raise these; the REST API renders them as
``{"error": {"code": ..., "message": ..., "fields": {...}}}`` with ``status``, the WebSocket
as an ``error`` frame carrying the request id, pages as a form or message error.
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    code = "error"
    status = 400
    default_message = "The request could not be completed."
    # A payment the provider refused (a declined card, an unusable payment method): counted
    # toward the payer's failed-payment limit (clubhouse/throttling.py).
    failed_payment = False

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.fields = fields or {}
        self.extra = extra or {}
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "fields": self.fields}
        body.update(self.extra)
        return body


class InvalidInput(ApplicationError):
    code = "invalid"
    status = 400
    default_message = "Some fields are not valid."


class NotAuthenticated(ApplicationError):
    code = "not_authenticated"
    status = 401
    default_message = "Log in to do this."


class PermissionDenied(ApplicationError):
    code = "permission_denied"
    status = 403
    default_message = "You are not allowed to do this."


class NotFound(ApplicationError):
    code = "not_found"
    status = 404
    default_message = "Not found."


class Conflict(ApplicationError):
    """The action is not legal in the current state (e.g. inviting someone already on stage)."""

    code = "conflict"
    status = 409
    default_message = "That is not possible right now."


class RateLimited(ApplicationError):
    """`retry_after` (seconds) goes into the body and, over the REST API, a Retry-After header."""

    code = "rate_limited"
    status = 429
    default_message = "Too many requests; try again later."

    def __init__(self, message: str | None = None, *, retry_after: int | None = None) -> None:
        self.retry_after = retry_after
        extra = {"retry_after": retry_after} if retry_after is not None else None
        super().__init__(message, extra=extra)
