"""The REST API's edges: one error shape for every failure, and the default pagination."""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.template.loader import render_to_string
from rest_framework import exceptions as drf
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import set_rollback

from clubhouse.errors import ApplicationError, RateLimited
from clubhouse.throttling import throttle_failure_record

logger = logging.getLogger(__name__)

# For the views that accept a file upload as well as JSON.
UPLOAD_PARSERS = [JSONParser, MultiPartParser]

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


# The database cannot be reached or dropped the connection (it restarted, failed over, or is
# down): the request may succeed a moment later, so the client is told to retry, not that the
# server has a bug. Django reconnects by itself on the next request (CONN_HEALTH_CHECKS).
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RETRY_AFTER_S = 5
UNAVAILABLE_MESSAGE = "The service is briefly unavailable; try again in a moment."


def _unavailable_body() -> dict[str, Any]:
    return error_body("service_unavailable", UNAVAILABLE_MESSAGE, retry_after=RETRY_AFTER_S)


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
    if isinstance(exc, DATABASE_UNAVAILABLE):
        logger.warning("database unavailable: %s", exc)
        return Response(
            _unavailable_body(), status=503, headers={"Retry-After": str(RETRY_AFTER_S)}
        )
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


def currency_field(**kwargs: Any) -> serializers.RegexField:
    """An ISO 4217 code as the schema can say it (three letters; case does not matter)."""
    if not kwargs.get("required"):
        kwargs.setdefault("default", "USD")
    return serializers.RegexField(
        r"^[A-Za-z]{3}$",
        error_messages={"invalid": "Not an ISO 4217 code."},
        help_text="ISO 4217, e.g. USD or EUR",
        **kwargs,
    )


class Pagination(LimitOffsetPagination):
    """`limit` 1 to 200 and `offset` ≥ 0; anything else is a 400, not a silent default, so a client
    with a bug learns of it (and the schema says so)."""

    default_limit = 50
    max_limit = 200

    def _integer(self, request: Any, name: str, minimum: int, maximum: int | None) -> int | None:
        raw = request.query_params.get(name)
        if raw is None:
            return None
        try:
            value = int(raw)
        except (TypeError, ValueError):
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum else f"{minimum} or more"
            raise drf.ValidationError({name: [f"A whole number {bound}."]})
        return value

    def get_limit(self, request: Any) -> int:
        limit = self._integer(request, self.limit_query_param, 1, self.max_limit)
        return self.default_limit if limit is None else limit

    def get_offset(self, request: Any) -> int:
        return self._integer(request, self.offset_query_param, 0, None) or 0

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_limit)
            elif parameter["name"] == self.offset_query_param:
                parameter["schema"].update(minimum=0)
        return parameters


# Django-level handlers: any /api/ path answers JSON even outside DRF views.
def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/healthz", "/livez", "/readyz"))


def json_or_html_404(request: HttpRequest, exception: Exception | None = None) -> Any:
    if _is_api(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Http404())


def api_not_found(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def service_unavailable(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: the error envelope for the API, a static page otherwise (rendered
    without the request: its context processors would reach for the database again)."""
    response: HttpResponse
    if _is_api(request):
        response = JsonResponse(_unavailable_body(), status=503)
    else:
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    return response


def json_or_html_500(request: HttpRequest) -> Any:
    # Django calls this while handling the exception (outside DRF views, e.g. a page, or a
    # middleware loading the session): a database outage is a 503, not a bug.
    if isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):
        return service_unavailable(request)
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


# --- JSON bodies keep their types ---------------------------------------------------------
def _from_json(field: serializers.Field) -> bool:
    """Whether the field's serializer is reading a JSON body (form, multipart and query strings
    are all text, so there a "true" or "5" is the only way to say it)."""
    data = getattr(field.root, "initial_data", None)
    return isinstance(data, dict | list) and not isinstance(data, QueryDict)


def json_types_strict() -> None:
    """DRF coerces JSON types (`0` into a string field, `1` into a boolean, `"5"` into an integer);
    the OpenAPI schema promises the JSON types, so a body that breaks them is a 400, as a client
    with a bug would want to learn. Installed once at start-up (clubhouse/apps.py)."""
    if getattr(serializers.CharField, "_clubhouse_strict", False):
        return
    char, boolean, integer = (
        serializers.CharField.to_internal_value,
        serializers.BooleanField.to_internal_value,
        serializers.IntegerField.to_internal_value,
    )

    def char_strict(self: serializers.CharField, data: Any) -> Any:
        if isinstance(data, bool | int | float) and _from_json(self):
            self.fail("invalid")
        return char(self, data)

    def boolean_strict(self: serializers.BooleanField, data: Any) -> Any:
        if _from_json(self):
            if not isinstance(data, bool):
                self.fail("invalid")
        elif not isinstance(data, bool) and not (
            isinstance(data, str) and data.lower() in ("true", "false")
        ):
            # form text: "true" or "false", not "1", "on" or "yes" (an absent field reaches here
            # as DRF's own False, as an unticked HTML checkbox would)
            self.fail("invalid")
        return boolean(self, data)

    def integer_strict(self: serializers.IntegerField, data: Any) -> Any:
        if isinstance(data, bool | str) and _from_json(self):
            self.fail("invalid")
        return integer(self, data)

    serializers.CharField.to_internal_value = char_strict  # type: ignore[method-assign, assignment]
    serializers.BooleanField.to_internal_value = boolean_strict  # type: ignore[method-assign, assignment]
    serializers.IntegerField.to_internal_value = integer_strict  # type: ignore[method-assign, assignment]
    serializers.CharField._clubhouse_strict = True  # type: ignore[attr-defined]

    # In a multipart body DRF reads an empty text field as "not sent" (what an untouched HTML form
    # input means); an app that sends a field empty means empty, and a field that may not be blank
    # must then say so rather than silently keep its old value.
    char_value = serializers.CharField.get_value

    def char_value_blank_is_sent(self: serializers.CharField, dictionary: Any) -> Any:
        if isinstance(dictionary, QueryDict) and dictionary.get(self.field_name or "") == "":
            return ""
        return char_value(self, dictionary)

    serializers.CharField.get_value = char_value_blank_is_sent  # type: ignore[method-assign, assignment]

    # An integer without bounds of its own fits a 32-bit column (ids, counts, amounts): a larger
    # one is a 400, not an OverflowError from the database (the fuzzing run found two), and the
    # schema says so.
    init = serializers.IntegerField.__init__

    def integer_bounded(self: serializers.IntegerField, **kwargs: Any) -> None:
        kwargs.setdefault("max_value", INT32_MAX)
        kwargs.setdefault("min_value", -INT32_MAX - 1)
        init(self, **kwargs)

    serializers.IntegerField.__init__ = integer_bounded  # type: ignore[method-assign]


INT32_MAX = 2**31 - 1
