"""A Stripe stand-in: an HTTP client injected into stripe-python that serves, in memory, the
subset of Stripe's API this project uses, with Stripe-shaped JSON.

- Idempotency-Key: the same key with the same parameters replays the first response (header
  ``Idempotent-Replayed: true``); the same key with other parameters is a 400
  ``idempotency_error``, as Stripe answers.
- Destination charges settle in the platform balance, move ``amount - application_fee_amount``
  to the connected account and charge Stripe's fee (the fee rule in settings) to the platform.
- Transfers need available platform balance (``balance_insufficient`` otherwise).
- Every change records a Stripe-shaped event; ``signed_webhook`` gives the body and the
  ``Stripe-Signature`` header (``t=...,v1=HMAC-SHA256(secret, "t.body")``).
- Magic test cards as Stripe names them: ``pm_card_visa``, ``pm_card_threeDSecure2Required``,
  ``pm_card_chargeDeclined``.

State is per process and guarded by one lock (threads share it). Test helpers (``top_up``,
``account_activate``, ``complete_3ds``, ``dispute``, ``transfer_reverse``) stand in for what
Stripe's dashboard or the cardholder would do.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe

from payouts import conf, fees
from payouts.provider import standin_objects as shapes

_CARDS: dict[str, dict[str, str]] = {
    "pm_card_visa": {"brand": "visa", "last4": "4242", "behaviour": "ok"},
    "pm_card_mastercard": {"brand": "mastercard", "last4": "4444", "behaviour": "ok"},
    "pm_card_threeDSecure2Required": {"brand": "visa", "last4": "3220", "behaviour": "3ds"},
    "pm_card_chargeDeclined": {"brand": "visa", "last4": "0002", "behaviour": "decline"},
}
# How a card behaves, by its number (as Stripe's test cards do): not a field of the object.
_BEHAVIOUR_OF_LAST4 = {card["last4"]: card["behaviour"] for card in _CARDS.values()}

# Stripe's reporting category of each balance transaction type the stand-in writes.
_REPORTING_CATEGORY = {
    "transfer_refund": "transfer_reversal",
    "adjustment": "dispute",
}


class StandInError(Exception):
    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        code: str | None = None,
        *,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.type, self.message, self.code = status, type_, message, code
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message, **self.extra}
        if self.code:
            error["code"] = self.code
        return {"error": error}


def parse_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding (``a[b][0][c]=v``) back into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def listify(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: listify(v) for k, v in node.items()}
            if node and all(k.isdigit() for k in node):
                return [node[k] for k in sorted(node, key=int)]
        return node

    return listify(root)


class StandInStripe(stripe.HTTPClient):
    name = "clubhouse-standin"

    def __init__(self, state_file: str = "") -> None:
        super().__init__()
        self._lock = threading.RLock()
        self.state_file = state_file
        self.reset()
        self._load()

    # Optional persistence, so `make run` (the demo command, then the server) shares one
    # stand-in across processes. Tests keep it in memory.
    _PERSISTED = ("objects", "idempotency", "available", "events", "private", "connected_balances")

    def _load(self) -> None:
        if not self.state_file:
            return
        try:
            with open(self.state_file) as fh:
                state = json.load(fh)
        except (OSError, ValueError):
            return
        if "private" not in state:
            # Written before the stand-in kept Stripe's whole objects (and a connected
            # account's balance off the account): not readable as Stripe objects, start afresh.
            return
        for name in self._PERSISTED:
            if name in state:
                value = state[name]
                if name == "idempotency":
                    value = {k: tuple(v) for k, v in value.items()}
                setattr(self, name, value)

    def _save(self) -> None:
        if not self.state_file:
            return
        state = {name: getattr(self, name) for name in self._PERSISTED}
        state["events"] = state["events"][-500:]
        tmp = f"{self.state_file}.tmp"
        with open(tmp, "w") as fh:
            json.dump(state, fh)
        os.replace(tmp, self.state_file)

    # state ---------------------------------------------------------------------------------
    def reset(self) -> None:
        with getattr(self, "_lock", threading.RLock()):
            self.objects: dict[str, dict[str, dict[str, Any]]] = {}
            self.idempotency: dict[str, tuple[str, str, int, str]] = {}
            self.available: dict[str, int] = {}  # platform balance, per currency
            # A connected account's balance, per currency (Stripe's `GET /v1/balance` with the
            # account's Stripe-Account header; never a field of the account object).
            self.connected_balances: dict[str, dict[str, int]] = {}
            # What the stand-in knows of an object that Stripe does not show on it (the
            # connected account a payout belongs to, a refund's reverse_transfer request, a
            # subscription's exact fee percent), by object id.
            self.private: dict[str, dict[str, Any]] = {}
            self.events: list[dict[str, Any]] = []
            self.requests: list[tuple[str, str]] = []
            self._clock = itertools.count(int(time.time()))
            self.fail_next: list[StandInError] = []
            # The next N answers are lost after the request was carried out (a timeout on the
            # way back): stripe-python sees a connection error and retries with the same key,
            # whose replay is lost too while N lasts.
            self.lose_responses = 0
            # Refunds answer `pending` and wait for `refund_settle` (as bank refunds do).
            self.refunds_pending = False
            # What Stripe charges the platform when a dispute is opened (returned if won).
            self.dispute_fee = 1500

    def _now(self) -> int:
        return next(self._clock)

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(12)}"

    def _store(self, collection: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.objects.setdefault(collection, {})[obj["id"]] = obj
        return obj

    def get(self, collection: str, id_: str) -> dict[str, Any]:
        obj = self.objects.get(collection, {}).get(id_)
        if obj is None:
            raise StandInError(
                404,
                "invalid_request_error",
                f"No such {collection[:-1]}: '{id_}'",
                "resource_missing",
            )
        return obj

    def all(self, collection: str) -> list[dict[str, Any]]:
        return list(self.objects.get(collection, {}).values())

    def _event(
        self, type_: str, obj: dict[str, Any], key: str | None = None, account: str | None = None
    ) -> dict[str, Any]:
        event = shapes.event(
            id_=self._id("evt"), created=self._now(), type_=type_,
            obj=json.loads(json.dumps(obj)), api_version=stripe.api_version,
            request_id=self._id("req"), idempotency_key=key, account=account,
        )  # fmt: skip
        self.events.append(event)
        return event

    def _balance_txn(
        self, *, amount: int, currency: str, type_: str, source: str, fee: int = 0,
        reporting_category: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        txn = shapes.balance_transaction(
            id_=self._id("txn"), created=self._now(), amount=amount, currency=currency, fee=fee,
            type_=type_, source=source,
            reporting_category=reporting_category or _REPORTING_CATEGORY.get(type_, type_),
        )  # fmt: skip
        self.available[currency] = self.available.get(currency, 0) + amount - fee
        return self._store("balance_transactions", txn)

    def _private(self, id_: str) -> dict[str, Any]:
        return self.private.setdefault(id_, {})

    def _connected_credit(self, account_id: str, currency: str, amount: int) -> None:
        balances = self.connected_balances.setdefault(account_id, {})
        balances[currency] = balances.get(currency, 0) + amount

    def connected_balance(self, account_id: str) -> dict[str, int]:
        """A connected account's balance per currency (what Stripe shows the account)."""
        with self._lock:
            self.get("accounts", account_id)
            return dict(self.connected_balances.get(account_id, {}))

    # test helpers --------------------------------------------------------------------------
    def top_up(
        self, amount: int, currency: str = "usd", description: str = "Top-up"
    ) -> dict[str, Any]:
        """The platform's bank tops up its balance (Stripe's top-up, settled at once): a
        `topup` balance transaction and a `topup.succeeded` event."""
        with self._lock:
            id_ = self._id("tu")
            txn = self._balance_txn(
                amount=amount, currency=currency.lower(), type_="topup", source=id_
            )
            topup = self._store(
                "topups",
                shapes.topup(
                    id_=id_, created=self._now(), amount=amount, currency=currency.lower(),
                    txn=txn["id"], description=description,
                ),
            )  # fmt: skip
            self._event("topup.succeeded", topup)
            self._save()
            return topup

    def account_activate(self, account_id: str) -> dict[str, Any]:
        with self._lock:
            acct = self.get("accounts", account_id)
            shapes.account_onboarded(acct, now=self._now())
            event = self._event("account.updated", acct)
            self._save()
            return event

    def complete_3ds(self, payment_intent_id: str, *, success: bool = True) -> dict[str, Any]:
        with self._lock:
            pi = self.get("payment_intents", payment_intent_id)
            if pi["status"] == "canceled":
                raise StandInError(
                    400, "invalid_request_error",
                    "This PaymentIntent was canceled: it can no longer be confirmed.",
                    "payment_intent_unexpected_state",
                )  # fmt: skip
            if success:
                self._settle(pi)
                return self._event("payment_intent.succeeded", pi)
            pi.update(status="requires_payment_method", next_action=None)
            pi["last_payment_error"] = shapes.payment_error(
                type_="invalid_request_error", code="payment_intent_authentication_failure",
                message="The provided PaymentMethod has failed authentication. You can provide "
                "payment_method_data or a new PaymentMethod to attempt to fulfill this "
                "PaymentIntent again.",
                payment_method=self.get("payment_methods", pi["payment_method"]),
            )  # fmt: skip
            return self._event("payment_intent.payment_failed", pi)

    def dispute(self, charge_id: str) -> dict[str, Any]:
        with self._lock:
            charge = self.get("charges", charge_id)
            now = self._now()
            dispute = self._store(
                "disputes",
                shapes.dispute(
                    id_=self._id("dp"), created=now, charge=charge,
                    brand=charge["payment_method_details"]["card"]["brand"],
                    due_by=now + 21 * 86400,
                ),
            )  # fmt: skip
            charge["disputed"] = True
            # Stripe debits the disputed amount and its dispute fee in one balance transaction
            # (`fee`), listed on the dispute; a won dispute returns both.
            txn = self._balance_txn(
                amount=-charge["amount"], currency=charge["currency"], type_="adjustment",
                source=dispute["id"], fee=self.dispute_fee,
            )  # fmt: skip
            dispute["balance_transactions"] = [dict(txn)]
            created = self._event("charge.dispute.created", dispute)
            self._event("charge.dispute.funds_withdrawn", dispute)
            return created

    def transfer_reverse(self, transfer_id: str) -> dict[str, Any]:
        with self._lock:
            tr = self.get("transfers", transfer_id)
            self._transfer_reversal(tr, tr["amount"] - tr["amount_reversed"])
            return self._event("transfer.reversed", tr)

    def _transfer_reversal(
        self, tr: dict[str, Any], amount: int, source_refund: str | None = None
    ) -> dict[str, Any]:
        """Money back from the connected account to the platform (Stripe's transfer reversal:
        listed on the transfer, a balance transaction of type `transfer_refund`)."""
        id_ = self._id("trr")
        txn = self._balance_txn(
            amount=amount, currency=tr["currency"], type_="transfer_refund", source=id_
        )
        reversal = self._store(
            "transfer_reversals",
            shapes.transfer_reversal(
                id_=id_, created=self._now(), amount=amount, currency=tr["currency"],
                transfer=tr["id"], balance_transaction=txn["id"], source_refund=source_refund,
            ),
        )  # fmt: skip
        self._connected_credit(tr["destination"], tr["currency"], -amount)
        tr["amount_reversed"] += amount
        tr["reversed"] = tr["amount_reversed"] >= tr["amount"]
        tr["reversals"]["data"].insert(0, reversal)
        return reversal

    def signed_webhook(
        self, event: dict[str, Any], secret: str, timestamp: int | None = None
    ) -> tuple[bytes, str]:
        payload = json.dumps(event)
        t = int(time.time()) if timestamp is None else timestamp
        mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
        return payload.encode(), f"t={t},v1={mac}"

    # the HTTP surface ----------------------------------------------------------------------
    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        answer = self._answer(method, url, headers, post_data)
        with self._lock:
            if self.lose_responses > 0:
                self.lose_responses -= 1
                raise stripe.APIConnectionError(
                    "Request timed out (stand-in: the answer was lost).", should_retry=True
                )
        return answer

    def _answer(
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any
    ) -> tuple[str, int, Mapping[str, str]]:
        headers = dict(headers or {})
        parts = urlsplit(url)
        method = method.upper()
        body = post_data.decode() if isinstance(post_data, bytes) else (post_data or "")
        params = parse_form(parts.query if method in {"GET", "DELETE"} else body)
        key = headers.get("Idempotency-Key")
        request_id = self._id("req")
        with self._lock:
            self.requests.append((method, parts.path))
            self._stripe_account = headers.get("Stripe-Account")
            if key and method == "POST":
                fingerprint = hashlib.sha256(
                    json.dumps([parts.path, params], sort_keys=True).encode()
                ).hexdigest()
                seen = self.idempotency.get(key)
                if seen is not None:
                    path, seen_fingerprint, status, response = seen
                    if seen_fingerprint != fingerprint or path != parts.path:
                        err = StandInError(
                            400,
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other than "
                            f"'{key}' if you meant to execute a different request.",
                        )
                        return json.dumps(err.body()), 400, {"request-id": request_id}
                    return (
                        response,
                        status,
                        {"request-id": request_id, "Idempotent-Replayed": "true"},
                    )
            if self.fail_next:
                # An injected failure in front of the API (a load balancer, the network): the
                # request never executed, so nothing is stored under its idempotency key.
                err = self.fail_next.pop(0)
                return json.dumps(err.body()), err.status, {"request-id": request_id}
            try:
                status, result = 200, self._route(method, parts.path, params, key)
            except StandInError as err:
                status, result = err.status, err.body()
            response = json.dumps(result)
            # Like Stripe: a request that began executing has its outcome saved, errors too.
            if key and method == "POST" and status != 404:
                self.idempotency[key] = (parts.path, fingerprint, status, response)
            if method in {"POST", "DELETE"}:
                self._save()
            return response, status, {"request-id": request_id}

    def close(self) -> None:
        pass

    def _route(self, method: str, path: str, p: dict[str, Any], key: str | None) -> Any:
        segments = path.strip("/").split("/")[1:]  # drop "v1"
        head = segments[0]
        if method == "DELETE" and len(segments) == 2 and hasattr(self, f"_delete_{head}"):
            return getattr(self, f"_delete_{head}")(segments[1])
        if method == "GET" and len(segments) == 1 and head == "balance":
            return self._balance()
        if method == "GET" and len(segments) == 1:
            return self._list(head, p)
        if method == "GET" and len(segments) == 2:
            return self.get(head, segments[1])
        if method == "POST" and len(segments) == 1:
            handler = getattr(self, f"_create_{head}", None)
            if handler is None:
                raise StandInError(
                    404, "invalid_request_error", f"Unrecognized request URL ({path})."
                )
            return handler(p, key)
        if (
            method == "POST"
            and len(segments) == 3
            and head == "payment_methods"
            and segments[2] == "attach"
        ):
            return self._attach(segments[1], p)
        if (
            method == "POST"
            and len(segments) == 3
            and head == "payment_intents"
            and segments[2] == "cancel"
        ):
            return self._cancel_payment_intent(segments[1], p)
        if method == "POST" and len(segments) == 2 and hasattr(self, f"_update_{head}"):
            return getattr(self, f"_update_{head}")(segments[1], p, key)
        if method == "POST" and len(segments) == 2:
            obj = self.get(head, segments[1])
            obj.setdefault("metadata", {}).update(p.get("metadata") or {})
            return obj
        raise StandInError(404, "invalid_request_error", f"Unrecognized request URL ({path}).")

    def _list(self, collection: str, p: dict[str, Any]) -> dict[str, Any]:
        items = sorted(
            self.all(collection), key=lambda o: (o.get("created", 0), o["id"]), reverse=True
        )
        created = p.get("created")
        if isinstance(created, dict) and "gte" in created:
            items = [o for o in items if o.get("created", 0) >= int(created["gte"])]
        if collection == "payouts":  # a connected account's payouts, or the platform's
            account = getattr(self, "_stripe_account", None)
            items = [o for o in items if self._private(o["id"]).get("account") == account]
        for field in (
            "transfer_group", "destination", "customer", "type", "payment_intent", "charge",
        ):  # fmt: skip
            if field in p:
                items = [o for o in items if o.get(field) == p[field]]
        if "starting_after" in p:
            ids = [o["id"] for o in items]
            items = (
                items[ids.index(p["starting_after"]) + 1 :] if p["starting_after"] in ids else []
            )
        limit = int(p.get("limit", 10))
        return {
            "object": "list",
            "url": f"/v1/{collection}",
            "has_more": len(items) > limit,
            "data": items[:limit],
        }

    def _balance(self) -> dict[str, Any]:
        account = getattr(self, "_stripe_account", None)
        if account:  # the connected account's own balance
            return shapes.balance(self.connected_balances.get(account, {}))
        return shapes.balance(self.available)

    # creators of objects -------------------------------------------------------------------
    def _create_customers(self, p: dict[str, Any], key: str | None) -> dict[str, Any]:
        customer = shapes.customer(
            id_=self._id("cus"), created=self._now(), email=p.get("email"),
            metadata=p.get("metadata") or {},
        )  # fmt: skip
        return self._store("customers", customer)

    def _create_setup_intents(self, p: dict[str, Any], key: str | None) -> dict[str, Any]:
        id_ = self._id("seti")
        return self._store(
            "setup_intents",
            shapes.setup_intent(
                id_=id_, created=self._now(), customer=p.get("customer"),
                client_secret=f"{id_}_secret_{secrets.token_hex(8)}",
                usage=p.get("usage", "off_session"),
                payment_method_types=p.get("payment_method_types", ["card"]),
            ),
        )  # fmt: skip

    def _payment_method(self, id_: str) -> dict[str, Any]:
        existing = self.objects.get("payment_methods", {}).get(id_)
        if existing is not None:
            return existing
        card = _CARDS.get(id_)
        if card is None:
            raise StandInError(
                400, "invalid_request_error", f"No such PaymentMethod: '{id_}'", "resource_missing"
            )
        return self._store(
            "payment_methods",
            shapes.payment_method(
                id_=self._id("pm"), created=self._now(), brand=card["brand"], last4=card["last4"]
            ),
        )

    def _attach(self, id_: str, p: dict[str, Any]) -> dict[str, Any]:
        pm = self._payment_method(id_)
        self.get("customers", p["customer"])
        if pm["customer"] and pm["customer"] != p["customer"]:
            raise StandInError(
                400, "invalid_request_error", "The payment method is attached to another customer."
            )
        pm["customer"] = p["customer"]
        self._event("payment_method.attached", pm)
        return pm

    def _create_payment_intents(self, p: dict[str, Any], key: str | None) -> dict[str, Any]:
        amount, currency = int(p["amount"]), p["currency"].lower()
        fee_amount = int(p.get("application_fee_amount", 0))
        destination = (p.get("transfer_data") or {}).get("destination")
        if destination:
            self.get("accounts", destination)
        if fee_amount > amount:
            raise StandInError(400, "invalid_request_error", "application_fee_amount too large")
        id_ = self._id("pi")
        pi = shapes.payment_intent(
            id_=id_, created=self._now(), amount=amount, currency=currency,
            customer=p.get("customer"),
            application_fee_amount=fee_amount if "application_fee_amount" in p else None,
            destination=destination, transfer_group=p.get("transfer_group"),
            on_behalf_of=p.get("on_behalf_of"), metadata=p.get("metadata") or {},
            client_secret=f"{id_}_secret_{secrets.token_hex(8)}",
        )  # fmt: skip
        self._store("payment_intents", pi)
        if p.get("payment_method"):
            pm = self._payment_method(p["payment_method"])
            if pm["customer"] and pm["customer"] != p.get("customer"):
                raise StandInError(
                    400, "invalid_request_error", "payment method of another customer"
                )
            pi["payment_method"] = pm["id"]
            pi["status"] = "requires_confirmation"
            if str(p.get("confirm")).lower() == "true":
                self._confirm(pi, pm)
        self._event("payment_intent.created", pi, key)
        return pi

    def _cancel_payment_intent(self, id_: str, p: dict[str, Any]) -> dict[str, Any]:
        """As Stripe: a payment intent that has not succeeded (nor been canceled) can be
        canceled, after which nothing can confirm it; otherwise `payment_intent_unexpected_state`."""
        pi = self.get("payment_intents", id_)
        if pi["status"] in {"succeeded", "canceled"}:
            raise StandInError(
                400,
                "invalid_request_error",
                f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}.",
                "payment_intent_unexpected_state",
                extra={"payment_intent": json.loads(json.dumps(pi))},
            )
        pi.update(
            status="canceled",
            next_action=None,
            canceled_at=self._now(),
            cancellation_reason=p.get("cancellation_reason") or "requested_by_customer",
        )
        self._event("payment_intent.canceled", pi)
        return pi

    def _confirm(self, pi: dict[str, Any], pm: dict[str, Any]) -> None:
        behaviour = _BEHAVIOUR_OF_LAST4.get(pm["card"]["last4"], "ok")
        if behaviour == "decline":
            pi["status"] = "requires_payment_method"
            pi["last_payment_error"] = shapes.payment_error(
                type_="card_error", code="card_declined", message="Your card was declined.",
                decline_code="generic_decline", payment_method=pm,
            )  # fmt: skip
            self._event("payment_intent.payment_failed", pi)
            # Stripe's card error carries the payment intent it declined.
            err = StandInError(
                402, "card_error", "Your card was declined.", "card_declined",
                extra={"payment_intent": json.loads(json.dumps(pi))},
            )  # fmt: skip
            raise err
        if behaviour == "3ds":
            pi["status"] = "requires_action"
            pi["next_action"] = {
                "type": "use_stripe_sdk",
                "use_stripe_sdk": {"type": "three_d_secure_redirect"},
            }
            self._event("payment_intent.requires_action", pi)
            return
        self._settle(pi)
        self._event("payment_intent.succeeded", pi)

    def _settle(self, pi: dict[str, Any]) -> None:
        amount, currency = pi["amount"], pi["currency"]
        charge_id = self._id("ch")
        stripe_fee = fees.processing_fee(amount, currency)
        txn = self._balance_txn(
            amount=amount, currency=currency, type_="charge", source=charge_id, fee=stripe_fee
        )
        charge = shapes.charge(
            id_=charge_id, created=self._now(), pi=pi,
            pm=self.get("payment_methods", pi["payment_method"]), balance_transaction=txn["id"],
        )  # fmt: skip
        destination = (pi.get("transfer_data") or {}).get("destination")
        if destination:
            # Stripe's flow of funds for a destination charge with `application_fee_amount`:
            # the whole charge goes to the connected account, then the application fee comes
            # back to the platform (an `application_fee` object and balance transaction).
            tr = self._transfer(
                amount, currency, destination, pi["transfer_group"], {},
                source_transaction=charge_id,
            )  # fmt: skip
            charge["transfer"] = tr["id"]
            if pi["application_fee_amount"]:
                fee = self._application_fee(pi["application_fee_amount"], charge_id, tr)
                charge["application_fee"] = fee["id"]
        self._store("charges", charge)
        pi.update(
            status="succeeded", amount_received=amount, latest_charge=charge_id, next_action=None
        )
        self._event("charge.succeeded", charge)

    def _application_fee(self, amount: int, charge_id: str, tr: dict[str, Any]) -> dict[str, Any]:
        id_ = self._id("fee")
        txn = self._balance_txn(
            amount=amount, currency=tr["currency"], type_="application_fee", source=id_
        )
        fee = self._store(
            "application_fees",
            shapes.application_fee(
                id_=id_, created=self._now(), amount=amount, currency=tr["currency"],
                account=tr["destination"], charge=tr["destination_payment"],
                originating_transaction=charge_id, balance_transaction=txn["id"],
            ),
        )  # fmt: skip
        self._connected_credit(tr["destination"], tr["currency"], -amount)
        self._event("application_fee.created", fee)
        return fee

    def _application_fee_refund(self, fee: dict[str, Any], amount: int) -> dict[str, Any]:
        """Part of an application fee back to the connected account (a refund with
        `refund_application_fee`): an `application_fee_refund` balance transaction."""
        id_ = self._id("fr")
        txn = self._balance_txn(
            amount=-amount, currency=fee["currency"], type_="application_fee_refund", source=id_
        )
        refund = shapes.fee_refund(
            id_=id_, created=self._now(), amount=amount, currency=fee["currency"],
            fee=fee["id"], balance_transaction=txn["id"],
        )  # fmt: skip
        self._connected_credit(fee["account"], fee["currency"], amount)
        fee["amount_refunded"] += amount
        fee["refunded"] = fee["amount_refunded"] >= fee["amount"]
        fee["refunds"]["data"].insert(0, refund)
        self._event("application_fee.refunded", fee)
        return refund

    def _create_refunds(self, p: dict[str, Any], key: str | None) -> dict[str, Any]:
        pi = self.get("payment_intents", p["payment_intent"])
        if pi["status"] != "succeeded":
            raise StandInError(
                400, "invalid_request_error", "This PaymentIntent has no charge to refund."
            )
        charge = self.get("charges", pi["latest_charge"])
        amount = int(p.get("amount", charge["amount"] - charge["amount_refunded"]))
        if charge["amount_refunded"] >= charge["amount"]:
            raise StandInError(
                400,
                "invalid_request_error",
                f"Charge {charge['id']} has already been refunded.",
                "charge_already_refunded",
            )
        if amount <= 0 or amount > charge["amount"] - charge["amount_refunded"]:
            raise StandInError(
                400,
                "invalid_request_error",
                "Refund amount exceeds the charge.",
                "amount_too_large",
            )
        refund = self._store(
            "refunds",
            shapes.refund(
                id_=self._id("re"), created=self._now(), amount=amount,
                currency=charge["currency"], charge=charge["id"], payment_intent=pi["id"],
            ),
        )  # fmt: skip
        self._private(refund["id"])["reverse_transfer"] = (
            str(p.get("reverse_transfer")).lower() == "true"
        )
        self._private(refund["id"])["refund_application_fee"] = (
            str(p.get("refund_application_fee")).lower() == "true"
        )
        charge["amount_refunded"] += amount  # held while pending, released if it fails
        self._charge_refunds_list(charge)
        if self.refunds_pending:
            self._event("refund.created", refund, key)
            return refund
        self._refund_succeed(refund, key)
        return refund

    def _refund_succeed(self, refund: dict[str, Any], key: str | None = None) -> None:
        charge = self.get("charges", refund["charge"])
        pi = self.get("payment_intents", refund["payment_intent"])
        amount = refund["amount"]
        refund["status"] = "succeeded"
        refund["destination_details"]["card"]["reference_status"] = "available"
        refund["destination_details"]["card"]["reference"] = shapes.fingerprint("arn", refund["id"])
        txn = self._balance_txn(
            amount=-amount, currency=charge["currency"], type_="refund", source=refund["id"]
        )
        refund["balance_transaction"] = txn["id"]
        if self._private(refund["id"]).get("reverse_transfer") and charge["transfer"]:
            tr = self.get("transfers", charge["transfer"])
            # Stripe reverses the transfer (the whole charge) in proportion to the amount
            # refunded, and with `refund_application_fee` returns the same proportion of the
            # application fee to the connected account. The basis is what earlier refunds
            # settled (`amount_refunded` also holds pending ones). The fee refund is rounded so
            # that the connected account gives back exactly its proportional share.
            share = charge["amount"] - (pi["application_fee_amount"] or 0)
            settled_before = sum(
                r["amount"]
                for r in self.all("refunds")
                if r["charge"] == charge["id"] and r["status"] == "succeeded"
                and r["id"] != refund["id"]
            )  # fmt: skip

            def part(of: int, upto: int) -> int:
                return fees.proportional_share(of, upto, charge["amount"])

            settled_after = settled_before + amount
            back = part(tr["amount"], settled_after) - part(tr["amount"], settled_before)
            reversal = self._transfer_reversal(tr, back, source_refund=refund["id"])
            refund["transfer_reversal"] = reversal["id"]
            creator_back = part(share, settled_after) - part(share, settled_before)
            fee_id = charge.get("application_fee")
            refund_fee = self._private(refund["id"]).get("refund_application_fee")
            if fee_id and refund_fee and back > creator_back:
                self._application_fee_refund(
                    self.get("application_fees", fee_id), back - creator_back
                )
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        self._charge_refunds_list(charge)
        self._event("charge.refunded", charge, key)
        self._event("refund.updated", refund)

    def refund_settle(self, refund_id: str, *, success: bool = True) -> dict[str, Any]:
        """The bank's answer to a pending refund (``refunds_pending``): the events it causes."""
        with self._lock:
            refund = self.get("refunds", refund_id)
            if refund["status"] != "pending":
                raise ValueError(f"refund {refund_id} is {refund['status']}, not pending")
            if success:
                self._refund_succeed(refund)
            else:
                refund.update(status="failed", failure_reason="expired_or_canceled_card")
                charge = self.get("charges", refund["charge"])
                charge["amount_refunded"] -= refund["amount"]
                self._charge_refunds_list(charge)
                self._event("refund.updated", refund)
            self._save()
            return self.events[-1]

    def refund_fail(self, refund_id: str, *, status: str = "failed") -> dict[str, Any]:
        """A refund fails or is canceled, pending or after it succeeded (a bank can return a
        refund days later): the money comes back to the platform balance. Stripe does not undo
        the transfer reversal of a refund that fails after success; the stand-in neither."""
        with self._lock:
            refund = self.get("refunds", refund_id)
            if refund["status"] not in {"pending", "succeeded"}:
                raise ValueError(f"refund {refund_id} is {refund['status']} already")
            charge = self.get("charges", refund["charge"])
            if refund["status"] == "succeeded":
                txn = self._balance_txn(
                    amount=refund["amount"], currency=charge["currency"],
                    type_="refund_failure", source=refund["id"],
                )  # fmt: skip
                refund["failure_balance_transaction"] = txn["id"]
            refund.update(status=status, failure_reason="expired_or_canceled_card")
            charge["amount_refunded"] -= refund["amount"]
            charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
            self._charge_refunds_list(charge)
            self._event("refund.failed" if status == "failed" else "refund.updated", refund)
            self._save()
            return self.events[-1]

    def _charge_refunds_list(self, charge: dict[str, Any]) -> None:
        """A charge lists its refunds, newest first (as Stripe's `charge.refunds`)."""
        refunds = [r for r in self.all("refunds") if r["charge"] == charge["id"]]
        refunds.sort(key=lambda r: (r["created"], r["id"]), reverse=True)
        charge["refunds"]["data"] = json.loads(json.dumps(refunds))

    def _create_accounts(self, p: dict[str, Any], key: str | None) -> dict[str, Any]:
        acct = shapes.account(
            id_=self._id("acct"), created=self._now(), email=p.get("email"),
            metadata=p.get("metadata") or {},
        )  # fmt: skip
        acct["type"] = p.get("type", "express")
        return self._store("accounts", acct)

    def _create_account_links(self, p: dict[str, Any], key: str | None) -> dict[str, Any]:
        self.get("accounts", p["account"])
        return shapes.account_link(
            created=self._now(),
            url=f"https://connect.stripe.standin/setup/e/{p['account']}/{secrets.token_hex(6)}",
        )

    def _transfer(
        self,
        amount: int,
        currency: str,
        destination: str,
        transfer_group: str | None,
        metadata: dict[str, Any],
        source_transaction: str | None = None,
    ) -> dict[str, Any]:
        acct = self.get("accounts", destination)
        if source_transaction is None:
            if acct["capabilities"].get("transfers") != "active":
                raise StandInError(
                    400, "invalid_request_error",
                    "Your destination account needs to have the transfers capability enabled.",
                    "insufficient_capabilities_for_transfer",
                )  # fmt: skip
            if self.available.get(currency, 0) < amount:
                raise StandInError(
                    400, "invalid_request_error",
                    "You have insufficient available funds in your Stripe account.",
                    "balance_insufficient",
                )  # fmt: skip
        id_ = self._id("tr")
        txn = self._balance_txn(amount=-amount, currency=currency, type_="transfer", source=id_)
        tr = self._store(
            "transfers",
            shapes.transfer(
                id_=id_, created=self._now(), amount=amount, currency=currency,
                destination=acct["id"], transfer_group=transfer_group, metadata=metadata or {},
                source_transaction=source_transaction, balance_transaction=txn["id"],
                destination_payment=self._id("py"),
            ),
        )  # fmt: skip
        self._connected_credit(acct["id"], currency, amount)
        self._event("transfer.created", tr)
        return tr

    def _create_transfers(self, p: dict[str, Any], key: str | None) -> dict[str, Any]:
        return self._transfer(
            int(p["amount"]), p["currency"].lower(), p["destination"], p.get("transfer_group"),
            p.get("metadata") or {},
        )  # fmt: skip

    def _create_payouts(self, p: dict[str, Any], key: str | None) -> dict[str, Any]:
        amount, currency = int(p["amount"]), p["currency"].lower()
        if self.available.get(currency, 0) < amount:
            raise StandInError(
                400,
                "invalid_request_error",
                "Insufficient funds for the payout.",
                "balance_insufficient",
            )
        id_ = self._id("po")
        txn = self._balance_txn(amount=-amount, currency=currency, type_="payout", source=id_)
        po = self._store(
            "payouts",
            shapes.payout(
                id_=id_, created=self._now(), amount=amount, currency=currency, status="paid",
                automatic=False, txn=txn["id"], destination=self.PLATFORM_BANK_ACCOUNT,
            ),
        )  # fmt: skip
        self._event("payout.paid", po, key)
        return po

    # The platform's own bank account, where its manual payouts go.
    PLATFORM_BANK_ACCOUNT = "ba_clubhouseStandInPlatform"

    # prices, subscriptions, invoices (paid clubs) -----------------------------------------
    PERIOD = 30 * 86400

    def _create_prices(self, p: dict[str, Any], key: str | None) -> dict[str, Any]:
        product = self._store(
            "products",
            shapes.product(
                id_=self._id("prod"), created=self._now(),
                name=(p.get("product_data") or {}).get("name", ""),
            ),
        )  # fmt: skip
        amount = int(p["unit_amount"])
        if amount <= 0:
            raise StandInError(400, "invalid_request_error", "unit_amount must be positive")
        return self._store(
            "prices",
            shapes.price(
                id_=self._id("price"), created=self._now(), currency=p["currency"].lower(),
                unit_amount=amount, product=product["id"],
                interval=(p.get("recurring") or {}).get("interval", "month"),
                metadata=p.get("metadata") or {},
            ),
        )  # fmt: skip

    def _create_subscriptions(self, p: dict[str, Any], key: str | None) -> dict[str, Any]:
        customer = self.get("customers", p["customer"])
        items = p.get("items") or []
        if len(items) != 1:
            raise StandInError(400, "invalid_request_error", "One price per subscription.")
        price = self.get("prices", items[0]["price"])
        destination = (p.get("transfer_data") or {}).get("destination")
        if destination:
            self.get("accounts", destination)
        pm = p.get("default_payment_method") or (customer.get("invoice_settings") or {}).get(
            "default_payment_method"
        )
        if not pm:
            raise StandInError(
                400, "invalid_request_error",
                "This customer has no attached payment source or default payment method.",
                "resource_missing",
            )  # fmt: skip
        now = self._now()
        sub_id = self._id("sub")
        item = shapes.subscription_item(
            id_=self._id("si"), created=now, subscription=sub_id,
            price=json.loads(json.dumps(price)), start=now, end=now + self.PERIOD,
        )  # fmt: skip
        percent = p.get("application_fee_percent")
        sub = shapes.subscription(
            id_=sub_id, created=now, customer=customer["id"], currency=price["currency"],
            item=item,
            # A JSON number, as Stripe answers; the stand-in computes fees from the exact text.
            application_fee_percent=float(percent) if percent not in (None, "") else None,
            destination=destination, default_payment_method=pm, metadata=p.get("metadata") or {},
        )  # fmt: skip
        self._private(sub_id)["application_fee_percent"] = percent or "0"
        self._store("subscriptions", sub)
        self._event("customer.subscription.created", sub, key)
        invoice = self._invoice_create(sub, "subscription_create")
        self._invoice_attempt(invoice, sub)
        answer = json.loads(json.dumps(sub))
        if any(str(e).startswith("latest_invoice") for e in (p.get("expand") or [])):
            answer["latest_invoice"] = json.loads(json.dumps(self._invoice_view(invoice)))
        return answer

    def _period(self, sub: dict[str, Any]) -> tuple[int, int]:
        item = sub["items"]["data"][0]
        return item["current_period_start"], item["current_period_end"]

    def _invoice_create(self, sub: dict[str, Any], reason: str) -> dict[str, Any]:
        price = sub["items"]["data"][0]["price"]
        start, end = self._period(sub)
        invoice = self._store(
            "invoices",
            shapes.invoice(
                id_=self._id("in"), created=self._now(), sub=sub, price=price, start=start,
                end=end, reason=reason, line_id=self._id("il"),
            ),
        )  # fmt: skip
        sub["latest_invoice"] = invoice["id"]
        self._event("invoice.finalized", invoice)
        return invoice

    def _invoice_view(self, invoice: dict[str, Any]) -> dict[str, Any]:
        return invoice

    def _invoice_attempt(self, invoice: dict[str, Any], sub: dict[str, Any]) -> None:
        """Charge the subscription's default card for an open invoice, as Stripe does."""
        amount = invoice["amount_due"]
        fee_amount = fees.application_fee_for_percent(
            amount, str(self._private(sub["id"]).get("application_fee_percent") or "0")
        )
        params: dict[str, Any] = {
            "amount": amount, "currency": invoice["currency"], "customer": sub["customer"],
            "application_fee_amount": fee_amount, "payment_method": sub["default_payment_method"],
            "confirm": "true", "metadata": {},
        }  # fmt: skip
        if sub.get("transfer_data"):
            params["transfer_data"] = dict(sub["transfer_data"])
        invoice["attempt_count"] += 1
        invoice["attempted"] = True
        try:
            pi = self._create_payment_intents(params, None)
        except StandInError:
            pi = self.all("payment_intents")[-1]
        for earlier in invoice["payments"]["data"]:
            earlier["is_default"] = False
        invoice["payments"]["data"].append(
            shapes.invoice_payment(
                id_=self._id("inpay"), created=self._now(), invoice=invoice["id"],
                currency=invoice["currency"], amount=amount, payment_intent=pi["id"],
            )
        )  # fmt: skip
        invoice["confirmation_secret"] = {"client_secret": pi["client_secret"],
                                          "type": "payment_intent"}  # fmt: skip
        if pi["status"] == "succeeded":
            self._invoice_paid(invoice, sub)
            return
        if pi["status"] == "requires_action":
            self._event("invoice.payment_action_required", invoice)
        self._event("invoice.payment_failed", invoice)
        if sub["status"] in {"active", "trialing"}:
            sub["status"] = "past_due"
            self._event("customer.subscription.updated", sub)

    def _invoice_paid(self, invoice: dict[str, Any], sub: dict[str, Any]) -> None:
        invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0)
        invoice["status_transitions"]["paid_at"] = paid_at = self._now()
        for payment in invoice["payments"]["data"]:
            pi = self.get("payment_intents", payment["payment"]["payment_intent"])
            if pi["status"] == "succeeded":
                payment.update(status="paid", amount_paid=invoice["amount_due"])
                payment["status_transitions"]["paid_at"] = paid_at
        self._event("invoice.payment_succeeded", invoice)
        self._event("invoice.paid", invoice)
        if sub["status"] != "active":
            sub["status"] = "active"
            self._event("customer.subscription.updated", sub)

    def _update_subscriptions(self, id_: str, p: dict[str, Any], key: str | None) -> Any:
        sub = self.get("subscriptions", id_)
        if sub["status"] in {"canceled", "incomplete_expired"}:
            raise StandInError(
                400, "invalid_request_error",
                "A canceled subscription can only update its cancellation_details and metadata.",
            )  # fmt: skip
        if "cancel_at_period_end" in p:
            sub["cancel_at_period_end"] = str(p["cancel_at_period_end"]).lower() == "true"
            sub["canceled_at"] = self._now() if sub["cancel_at_period_end"] else None
            sub["cancel_at"] = self._period(sub)[1] if sub["cancel_at_period_end"] else None
            sub["cancellation_details"]["reason"] = (
                "cancellation_requested" if sub["cancel_at_period_end"] else None
            )
        sub["metadata"].update(p.get("metadata") or {})
        self._event("customer.subscription.updated", sub, key)
        return sub

    def _delete_subscriptions(self, id_: str) -> dict[str, Any]:
        sub = self.get("subscriptions", id_)
        if sub["status"] in {"canceled", "incomplete_expired"}:
            raise StandInError(
                400, "invalid_request_error", f"No such subscription: '{id_}'", "resource_missing"
            )
        self._subscription_end(sub)
        return sub

    def _subscription_end(self, sub: dict[str, Any], status: str = "canceled") -> dict[str, Any]:
        sub.update(status=status, ended_at=self._now())
        sub["canceled_at"] = sub["canceled_at"] or sub["ended_at"]
        if status == "canceled" and not sub["cancellation_details"]["reason"]:
            sub["cancellation_details"]["reason"] = (
                "payment_failed" if sub["status"] == "past_due" else "cancellation_requested"
            )
        return self._event("customer.subscription.deleted", sub)

    # test helpers: the passage of time for subscriptions -----------------------------------
    def subscription_advance(self, sub_id: str, *, fail: bool = False) -> list[dict[str, Any]]:
        """The billing period ends: a subscription set to cancel at period end ends; otherwise
        the next period starts and its invoice is charged (declined when `fail`). Returns the
        events this produced, in Stripe's order."""
        with self._lock:
            first = len(self.events)
            sub = self.get("subscriptions", sub_id)
            if sub["cancel_at_period_end"]:
                self._subscription_end(sub)
            else:
                item = sub["items"]["data"][0]
                start = item["current_period_end"]
                item.update(current_period_start=start, current_period_end=start + self.PERIOD)
                self._event("customer.subscription.updated", sub)
                invoice = self._invoice_create(sub, "subscription_cycle")
                if fail:
                    saved = sub["default_payment_method"]
                    sub["default_payment_method"] = self._payment_method("pm_card_chargeDeclined")[
                        "id"
                    ]
                    self._invoice_attempt(invoice, sub)
                    sub["default_payment_method"] = saved
                else:
                    self._invoice_attempt(invoice, sub)
            self._save()
            return self.events[first:]

    def invoice_retry(self, invoice_id: str) -> list[dict[str, Any]]:
        """Stripe's smart retry of an open invoice with the subscription's card."""
        with self._lock:
            first = len(self.events)
            invoice = self.get("invoices", invoice_id)
            sub_id = invoice["parent"]["subscription_details"]["subscription"]
            self._invoice_attempt(invoice, self.get("subscriptions", sub_id))
            self._save()
            return self.events[first:]

    def subscription_retries_exhausted(
        self, sub_id: str, *, outcome: str = "canceled"
    ) -> dict[str, Any]:
        """All retries failed: Stripe cancels the subscription or marks it unpaid (per the
        account's settings)."""
        with self._lock:
            sub = self.get("subscriptions", sub_id)
            if outcome == "canceled":
                return self._subscription_end(sub)
            sub["status"] = "unpaid"
            return self._event("customer.subscription.updated", sub)

    def subscription_incomplete_expire(self, sub_id: str) -> dict[str, Any]:
        """23 hours without a paid first invoice."""
        with self._lock:
            return self._subscription_end(
                self.get("subscriptions", sub_id), status="incomplete_expired"
            )

    def invoice_complete_3ds(self, invoice_id: str) -> list[dict[str, Any]]:
        with self._lock:
            first = len(self.events)
            invoice = self.get("invoices", invoice_id)
            pi = self.get("payment_intents", invoice["payments"]["data"][-1]["payment"][
                "payment_intent"])  # fmt: skip
            self._settle(pi)
            self._event("payment_intent.succeeded", pi)
            sub = self.get("subscriptions", invoice["parent"]["subscription_details"][
                "subscription"])  # fmt: skip
            self._invoice_paid(invoice, sub)
            self._save()
            return self.events[first:]

    # test helpers: disputes decided, connected payouts ----------------------------------------
    def dispute_won(self, dispute_id: str) -> dict[str, Any]:
        with self._lock:
            dispute = self.get("disputes", dispute_id)
            dispute["status"] = "won"
            withdrawn_fee = sum(int(t["fee"]) for t in dispute.get("balance_transactions") or [])
            txn = self._balance_txn(
                amount=dispute["amount"], currency=dispute["currency"], type_="adjustment",
                source=dispute["id"], fee=-withdrawn_fee, reporting_category="dispute_reversal",
            )  # fmt: skip
            dispute.setdefault("balance_transactions", []).append(dict(txn))
            event = self._event("charge.dispute.funds_reinstated", dispute)
            self._event("charge.dispute.closed", dispute)
            return event

    def connected_payout(
        self, account_id: str, amount: int, currency: str = "usd", *, status: str = "paid"
    ) -> dict[str, Any]:
        """A connected account pays its balance out to the creator's bank (Stripe does this on
        the account's schedule): `payout.created`, then `payout.paid` or `payout.failed`."""
        with self._lock:
            acct = self.get("accounts", account_id)
            currency = currency.lower()
            # Its balance transaction is on the connected account's ledger, not the platform's.
            po = self._store(
                "payouts",
                shapes.payout(
                    id_=self._id("po"), created=self._now(), amount=amount, currency=currency,
                    status="pending", automatic=True, txn=self._id("txn"),
                    destination=shapes.external_account_of(acct),
                ),
            )  # fmt: skip
            self._private(po["id"])["account"] = account_id
            self._connected_credit(account_id, currency, -amount)
            self._event("payout.created", po, account=account_id)
            return self.connected_payout_settle(po["id"], status=status)

    def connected_payout_settle(self, payout_id: str, *, status: str) -> dict[str, Any]:
        with self._lock:
            po = self.get("payouts", payout_id)
            account_id = self._private(payout_id)["account"]
            po["status"] = status
            if status == "failed":
                po["failure_code"] = "account_closed"
                po["failure_message"] = "The bank account has been closed."
                self._connected_credit(account_id, po["currency"], po["amount"])
            self._save()
            return self._event(f"payout.{status}", po, account=account_id)


def _state_file() -> str:
    return conf.standin_state_file()


STANDIN = StandInStripe(_state_file())
