"""The REST API's edges: one error shape for every failure, and the default pagination."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import set_rollback

from clubhouse.errors import ApplicationError, RateLimited
from clubhouse.throttling import throttle_failure_record

logger = logging.getLogger(__name__)

_DRF_CODES: list[tuple[type[drf.APIException], str]] = [
    (drf.NotAuthenticated, "not_authenticated"),
    (drf.AuthenticationFailed, "authentication_failed"),
    (drf.PermissionDenied, "permission_denied"),
    (drf.NotFound, "not_found"),
    (drf.MethodNotAllowed, "method_not_allowed"),
    (drf.NotAcceptable, "not_acceptable"),
    (drf.UnsupportedMediaType, "unsupported_media_type"),
    (drf.Throttled, "rate_limited"),
    (drf.ParseError, "malformed_request"),
]


def error_body(
    code: str, message: str, fields: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}, **extra}}


def _flatten(detail: Any) -> Any:
    """DRF's ErrorDetail trees become plain strings, lists and dicts."""
    if isinstance(detail, dict):
        return {str(key): _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def _validation_body(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        fields = _flatten(detail)
        general = fields.pop("non_field_errors", None) or fields.pop("__all__", None)
        message = general[0] if general else "Some fields are not valid."
        return error_body("invalid", message, fields)
    messages = _flatten(detail if isinstance(detail, list) else [detail])
    return error_body("invalid", messages[0] if messages else "The request is not valid.")


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        set_rollback()
        if exc.failed_payment and "request" in context:
            throttle_failure_record(context["request"], context.get("view"))
        retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
        retry = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return Response({"error": exc.as_dict()}, status=exc.status, headers=retry)
    if isinstance(exc, DjangoValidationError):
        set_rollback()
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return Response(_validation_body(detail), status=400)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    if not isinstance(exc, drf.APIException):
        return None  # a real bug: let Django log it and answer 500 (JSON for /api/, see below)

    set_rollback()
    headers: dict[str, str] = {}
    if isinstance(exc, drf.ValidationError):
        return Response(_validation_body(exc.detail), status=400)
    code = next((c for klass, c in _DRF_CODES if isinstance(exc, klass)), "error")
    status = exc.status_code
    extra: dict[str, Any] = {}
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        status = 401  # DRF answers 403 when no auth class sends a challenge; 401 is the truth
    wait = getattr(exc, "wait", None)
    if isinstance(exc, drf.Throttled) and wait is not None:
        headers["Retry-After"] = str(int(wait))
        extra["retry_after"] = int(wait)
    message = exc.detail if isinstance(exc.detail, str) else str(_flatten(exc.detail))
    return Response(error_body(code, str(message), **extra), status=status, headers=headers)


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200


# Django-level handlers: any /api/ path answers JSON even outside DRF views.
def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/healthz", "/livez"))


def json_or_html_404(request: HttpRequest, exception: Exception | None = None) -> Any:
    if _is_api(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Http404())


def json_or_html_500(request: HttpRequest) -> Any:
    if _is_api(request):
        return JsonResponse(
            error_body("server_error", "Something went wrong on our side."), status=500
        )
    from django.views.defaults import server_error

    return server_error(request)


def json_or_html_400(request: HttpRequest, exception: Exception | None = None) -> Any:
    if _is_api(request):
        return JsonResponse(error_body("bad_request", "The request is not valid."), status=400)
    from django.views.defaults import bad_request

    return bad_request(request, exception or Exception())


def csrf_failure(request: HttpRequest, reason: str = "") -> Any:
    if _is_api(request):
        return JsonResponse(
            error_body(
                "csrf_failed",
                "CSRF check failed; send the X-CSRFToken header or use a session token.",
            ),
            status=403,
        )
    from django.views.csrf import csrf_failure as default

    return default(request, reason)
