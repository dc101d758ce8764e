"""What a client (the web page, the mobile apps) needs to take card details itself.

- ``GET /api/v1/payouts/config/``: the payment mode and the publishable key. Cards are entered
  in Stripe's own fields (Stripe.js / the mobile SDK) and never reach this server.
- ``POST /api/v1/payouts/standin/authenticate/``: stand-in only (404 with real Stripe). The
  cardholder's answer to a 3-D Secure challenge, as Stripe's test pages give it, so that the
  web page and the browser tests can finish a `requires_action` payment without Stripe.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.test import RequestFactory
from djstripe.views import ProcessWebhookView
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsMember
from clubhouse.errors import InvalidInput, NotFound, PermissionDenied
from payouts import conf
from payouts.models import PaymentCustomer
from payouts.provider import get_provider
from payouts.setup import standin_webhook_endpoint
from payouts.webhooks import HANDLERS, MIRROR_DISABLED

logger = logging.getLogger(__name__)

# The prefix a publishable key has in each mode; anything else (a secret key `sk_...`, a
# restricted key `rk_...`, a key of the other mode) is never sent to a client.
_PUBLISHABLE_PREFIX = {"test": "pk_test_", "live": "pk_live_"}


def publishable_key(mode: str) -> str | None:
    if mode not in _PUBLISHABLE_PREFIX:
        return None
    setting = "STRIPE_LIVE_PUBLIC_KEY" if mode == "live" else "STRIPE_TEST_PUBLIC_KEY"
    key = str(getattr(settings, setting, "") or "").strip()
    if not key:
        return None
    if not key.startswith(_PUBLISHABLE_PREFIX[mode]):
        logger.error(
            "payouts: %s is not a %s publishable key (it should start with %r); card entry is "
            "off until it is fixed",
            setting,
            mode,
            _PUBLISHABLE_PREFIX[mode],
        )
        return None
    return key


def client_config() -> dict[str, Any]:
    mode = get_provider().mode
    key = publishable_key(mode)
    card_entry = "test_cards" if mode == "standin" else ("stripe" if key else "unavailable")
    return {"mode": mode, "publishable_key": key, "card_entry": card_entry}


_ConfigOut = inline_serializer(
    "PaymentsConfig",
    {
        "mode": serializers.ChoiceField(
            choices=["standin", "test", "live"],
            help_text="standin: the project's Stripe stand-in (no real money, Stripe's test "
            "payment method ids such as pm_card_visa); test/live: Stripe.",
        ),
        "publishable_key": serializers.CharField(
            allow_null=True,
            help_text="Stripe publishable key for Stripe.js / the mobile SDK; null in stand-in "
            "mode or when none is configured.",
        ),
        "card_entry": serializers.ChoiceField(
            choices=["stripe", "test_cards", "unavailable"],
            help_text="How a new card is entered: Stripe's fields with the publishable key, the "
            "stand-in's test payment methods, or not at all (no publishable key configured).",
        ),
    },
)


class PaymentsConfigView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="payouts_config",
        summary="Payment mode and the Stripe publishable key",
        request=None,
        responses=_ConfigOut,
    )
    def get(self, request: Request) -> Response:
        return Response(client_config())


class StandInAuthenticateInput(serializers.Serializer):
    client_secret = serializers.CharField(max_length=255)
    outcome = serializers.ChoiceField(choices=["succeed", "fail"], default="succeed")


def _deliver(events: list[dict[str, Any]]) -> None:
    """Hand the stand-in's events to the app the way Stripe would: signed, through dj-stripe's
    webhook view (signature check, event stored, then our per-event handlers)."""
    from payouts.provider.standin import STANDIN  # loaded in stand-in mode only

    endpoint = standin_webhook_endpoint()
    view = ProcessWebhookView.as_view()
    for event in events:
        # dj-stripe's own mirrors of the other types would fetch objects from Stripe.
        if event["type"] not in HANDLERS and event["type"] not in MIRROR_DISABLED:
            continue
        body, signature = STANDIN.signed_webhook(event, conf.webhook_secret())
        request = RequestFactory().post(
            f"/stripe/webhook/{endpoint.djstripe_uuid}/",
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signature,
        )
        response = view(request, uuid=endpoint.djstripe_uuid)
        if response.status_code != 200:
            logger.error("payouts: stand-in webhook %s answered %s", event["type"], response)


class StandInAuthenticateView(APIView):
    permission_classes = [IsMember]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Outside stand-in mode this URL does not exist, for anyone: a 404 before
        # authentication, so it says nothing about the provider or the caller.
        if not conf.stripe_standin_active():
            raise NotFound("Test authentication exists only with the Stripe stand-in.")
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="payouts_standin_authenticate",
        summary="Stand-in only: answer a 3-D Secure challenge (404 with real Stripe)",
        request=StandInAuthenticateInput,
        responses=inline_serializer(
            "StandInAuthenticated",
            {"payment_intent": serializers.CharField(), "status": serializers.CharField()},
        ),
    )
    def post(self, request: Request) -> Response:
        data = StandInAuthenticateInput(data=request.data)
        data.is_valid(raise_exception=True)
        from payouts.provider.standin import STANDIN, StandInError  # stand-in mode only

        secret = data.validated_data["client_secret"]
        intent_id = secret.split("_secret_", 1)[0]
        with STANDIN._lock:
            try:
                intent = STANDIN.get("payment_intents", intent_id)
            except StandInError:
                intent = None
            if intent is None or intent.get("client_secret") != secret:
                raise InvalidInput(
                    "No payment waits for authentication with this secret.",
                    fields={"client_secret": ["unknown"]},
                )
            customer = PaymentCustomer.objects.filter(user=request.user.pk or 0).first()
            if customer is None or intent.get("customer") != customer.stripe_customer_id:
                raise PermissionDenied("This payment is not yours to authenticate.")
            if intent["status"] != "requires_action":
                raise InvalidInput(
                    "This payment does not wait for authentication.",
                    fields={"client_secret": [f"status is {intent['status']}"]},
                    code="payment_not_awaiting_action",
                )
            first = len(STANDIN.events)
            invoice = _invoice_paying(STANDIN, intent_id)
            if data.validated_data["outcome"] == "succeed" and invoice is not None:
                STANDIN.invoice_complete_3ds(invoice["id"])
            else:
                STANDIN.complete_3ds(intent_id, success=data.validated_data["outcome"] == "succeed")
            STANDIN._save()
            events = STANDIN.events[first:]
            status = intent["status"]
        # As Stripe would, a moment later: the webhook settles the payment in our books, so the
        # page's next poll sees it.
        _deliver(events)
        return Response({"payment_intent": intent_id, "status": status})


def _invoice_paying(standin: Any, intent_id: str) -> dict[str, Any] | None:
    """The subscription invoice whose latest payment is this payment intent, if any."""
    for invoice in standin.all("invoices"):
        payments = (invoice.get("payments") or {}).get("data") or []
        if payments and payments[-1]["payment"].get("payment_intent") == intent_id:
            return dict(invoice)
    return None
