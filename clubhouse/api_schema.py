"""The OpenAPI schema tells the truth about failures.

Every operation can fail with the project's error envelope (clubhouse/api.py renders every
failure that way): a malformed request (400), no or a bad session (401), a permission (403), a
missing object (404), an illegal state (409), a body type the API does not read (415) or a rate
limit (429, with Retry-After). drf-spectacular documents only the success response, so clients
and the fuzzing run (tests/embedded/test_schema_fuzz.py) would see undocumented codes; this
AutoSchema adds the envelope to each operation for the codes it can answer.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

# Built with inline_serializer: a field named `fields` cannot be declared on a Serializer class
# (it is the attribute holding the fields); the schema only reads this, nothing serializes with it.
ErrorDetailSerializer = inline_serializer(
    "ErrorDetail",
    fields={
        "code": serializers.CharField(help_text="Stable, machine-readable (e.g. `rate_limited`)."),
        "message": serializers.CharField(help_text="For people; may be translated."),
        # A list of messages per field, or for a list or nested field, the same shape again.
        "fields": serializers.DictField(
            child=serializers.JSONField(), help_text="Per-field messages for invalid input."
        ),
        "retry_after": serializers.IntegerField(
            required=False, help_text="Seconds to wait (429 only; also the Retry-After header)."
        ),
    },
)


class ErrorEnvelopeSerializer(serializers.Serializer):
    error = ErrorDetailSerializer


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The request is malformed or a field is not valid.",
    401: "No session, or the session token is not valid.",
    403: "Not allowed for this member.",
    404: "The object does not exist or is not visible to this member.",
    409: "Not possible in the object's current state.",
    415: "The body's content type is not JSON, form or multipart.",
    429: "Rate limited: wait the number of seconds in Retry-After.",
}
_BODY_METHODS = {"POST", "PUT", "PATCH"}


class AutoSchema(openapi.AutoSchema):
    def _error_codes(self) -> list[int]:
        # 401 too on public operations: a bad session token is refused everywhere.
        codes = [400, 401, 403, 404, 409, 429]
        if self.method in _BODY_METHODS:
            codes.append(415)
        return codes

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation: dict[str, Any] | None = super().get_operation(*args, **kwargs)
        # Ids in paths are positive (database keys): 0 and negatives are a 404, not a case.
        for parameter in (operation or {}).get("parameters", []):
            schema = parameter.get("schema", {})
            if parameter.get("in") == "path" and schema.get("type") == "integer":
                schema.setdefault("minimum", 1)
        return operation

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if str(code) in responses:
                continue
            responses[str(code)] = self._get_response_for_code(
                OpenApiResponse(ErrorEnvelopeSerializer, ERROR_DESCRIPTIONS[code]),
                str(code),
                direction=direction,
            )
        return responses


# --- helpers for views that paginate by hand --------------------------------------------
LIMIT = OpenApiParameter(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": 200},
    description="Page size, 1 to 200.",
)
OFFSET = OpenApiParameter("offset", {"type": "integer", "minimum": 0})
PAGE_PARAMETERS = [LIMIT, OFFSET]


_PAGINATED: dict[str, serializers.Serializer] = {}


def paginated(serializer: type[serializers.Serializer], name: str) -> serializers.Serializer:
    """The shape `clubhouse.api.Pagination` answers: count, next, previous, results (one
    component per name, however many views answer it)."""
    if name not in _PAGINATED:
        _PAGINATED[name] = _paginated(serializer, name)
    return _PAGINATED[name]


def _paginated(serializer: type[serializers.Serializer], name: str) -> serializers.Serializer:
    return inline_serializer(
        f"Paginated{name}List",
        fields={
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer(many=True),
        },
    )


def results(serializer: type[serializers.Serializer], name: str) -> serializers.Serializer:
    """`{"results": [...]}`: a short list that is never paged."""
    return inline_serializer(f"{name}Results", fields={"results": serializer(many=True)})
