"""Bad input to the money endpoints is a 400 in the one error shape
{"error": {"code": "invalid", "message", "fields"}}, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from .conftest import make_user

pytestmark = pytest.mark.django_db


def _assert_invalid(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == "invalid"
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["fields"], dict)
    return error


@pytest.fixture
def member_client(api_client: APIClient) -> APIClient:
    api_client.force_authenticate(make_user())
    return api_client


@pytest.mark.parametrize("amount", ["0", "-1", "-1000", "ten", "1.5", ""])
def test_a_tip_quote_for_an_amount_that_is_not_a_positive_integer_is_400(
    member_client: APIClient, amount: str
) -> None:
    response = member_client.get("/api/v1/payouts/tips/quote/", {"amount": amount})
    error = _assert_invalid(response)
    assert "amount" in error["fields"]


def test_a_tip_quote_without_an_amount_is_400(member_client: APIClient) -> None:
    error = _assert_invalid(member_client.get("/api/v1/payouts/tips/quote/"))
    assert "amount" in error["fields"]


@pytest.mark.parametrize("currency", ["US", "U$D", "dollars"])
def test_a_tip_quote_in_something_that_is_not_a_currency_code_is_400(
    member_client: APIClient, currency: str
) -> None:
    response = member_client.get(
        "/api/v1/payouts/tips/quote/", {"amount": 1000, "currency": currency}
    )
    error = _assert_invalid(response)
    assert "currency" in error["fields"]


def test_a_valid_tip_quote_still_answers(member_client: APIClient) -> None:
    response = member_client.get("/api/v1/payouts/tips/quote/", {"amount": 1000, "currency": "usd"})
    assert response.json() == {"tip": 1000, "fee": 61, "charge": 1061, "currency": "USD"}


BODY_ENDPOINTS = [
    "/api/v1/payouts/payment-method/",
    "/api/v1/payouts/creator-application/",
    "/api/v1/payouts/tips/",
]


@pytest.mark.parametrize("path", BODY_ENDPOINTS)
@pytest.mark.parametrize("body", ["[1, 2]", "[]", '"pm_card_visa"', "5", "null"])
def test_a_json_body_that_is_not_an_object_is_400(
    member_client: APIClient, path: str, body: str
) -> None:
    response = member_client.generic("POST", path, data=body, content_type="application/json")
    _assert_invalid(response)


def test_a_payment_method_of_the_wrong_type_is_400_with_the_field(
    member_client: APIClient,
) -> None:
    for wrong in ({"payment_method": {"id": "pm_card_visa"}}, {"payment_method": ["x"]}, {}):
        response = member_client.post(
            "/api/v1/payouts/payment-method/", json.dumps(wrong), content_type="application/json"
        )
        error = _assert_invalid(response)
        assert "payment_method" in error["fields"]


def test_a_pitch_of_the_wrong_type_or_too_long_is_400_with_the_field(
    member_client: APIClient,
) -> None:
    for wrong in ({"pitch": {"a": 1}}, {"pitch": ["x"]}, {"pitch": "x" * 2001}):
        response = member_client.post(
            "/api/v1/payouts/creator-application/",
            json.dumps(wrong),
            content_type="application/json",
        )
        error = _assert_invalid(response)
        assert "pitch" in error["fields"]


def test_a_creator_application_without_a_pitch_is_still_accepted(
    member_client: APIClient,
) -> None:
    response = member_client.post("/api/v1/payouts/creator-application/", {}, format="json")
    assert response.status_code == 201
    assert response.json()["status"] == "pending"


def test_a_payment_method_the_provider_does_not_know_is_the_clients_400_not_a_502(
    member_client: APIClient,
) -> None:
    response = member_client.post(
        "/api/v1/payouts/payment-method/", {"payment_method": "pm_made_up_0000"}, format="json"
    )
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "payment_method_unknown"
    assert error["fields"] == {"payment_method": ["Not a payment method the provider knows."]}


def test_a_body_that_is_not_json_is_refused_with_415_in_the_error_shape(
    member_client: APIClient,
) -> None:
    response = member_client.post(
        "/api/v1/payouts/creator-application/", "pitch=hi", content_type="text/plain"
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize(("field", "value"), [("pitch", 5), ("pitch", True), ("pitch", ["a"])])
def test_a_json_body_keeps_its_types_a_number_is_not_a_string(
    member_client: APIClient, field: str, value: Any
) -> None:
    response = member_client.post(
        "/api/v1/payouts/creator-application/", {field: value}, format="json"
    )
    error = _assert_invalid(response)
    assert field in error["fields"]


@pytest.mark.parametrize("ids", ["36650461466502841926", "1,2,x", ",".join(["1"] * 101)])
def test_prices_of_ids_that_are_not_ids_are_a_400_not_a_500(
    member_client: APIClient, ids: str
) -> None:
    response = member_client.get("/api/v1/payouts/prices/", {"rooms": ids})
    error = _assert_invalid(response)
    assert "rooms" in error["fields"]
