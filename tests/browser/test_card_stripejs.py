"""The Stripe.js path of the web's card form, against a FAKE Stripe.js.

Stripe cannot be reached from the test machine, so this test answers the page's request for
https://js.stripe.com/v3 with a small stand-in script (below) that implements only the calls
payment_card.js makes (`Stripe(key)`, `elements().create("card").mount/on`,
`confirmCardSetup`, `handleNextAction`) and records them, and answers `payouts/config/` as a
server with Stripe test keys would. The server itself stays on the Stripe stand-in (its
SetupIntent and payment intents are the stand-in's). So this verifies OUR side of the
contract: Stripe.js loaded only when a card form opens, the SetupIntent's client secret
confirmed with the mounted Element, the resulting payment method paid with, and a 3-D Secure
`requires_action` handed to `handleNextAction` with the payment's client secret before the
server's state is polled. It does NOT verify Stripe.js itself, Stripe's iframes, or that real
Stripe accepts these calls (docs/web.md says what is and is not verified).
"""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import expect

from accounts.models import Follow
from payouts.models import PaymentCustomer, Tip
from tests.browser.test_pages import make_creator
from tests.factories import UserFactory

PUBLISHABLE = "pk_test_51FakeForTheBrowserTest"

# The fake: a card "Element" is a plain input; the card number typed picks a stand-in test
# payment method (as Stripe's test numbers map to test payment methods); handleNextAction
# plays the bank by answering the stand-in's test authentication.
FAKE_STRIPE_JS = r"""
(() => {
  const calls = [];
  window.__fakeStripe = { calls };
  const METHODS = { "4242424242424242": "pm_card_visa", "4000002760003184": "pm_card_threeDSecure2Required" };
  window.Stripe = (key) => {
    calls.push(["Stripe", key]);
    return {
      elements() {
        return {
          create(type) {
            calls.push(["create", type]);
            const input = document.createElement("input");
            input.setAttribute("aria-label", "Card number (fake Stripe field)");
            const listeners = {};
            return {
              __input: input,
              mount(node) { calls.push(["mount"]); node.append(input); },
              on(name, cb) { listeners[name] = cb; },
            };
          },
        };
      },
      async confirmCardSetup(clientSecret, data) {
        const number = data.payment_method.card.__input.value.replace(/\s+/g, "");
        calls.push(["confirmCardSetup", clientSecret]);
        const pm = METHODS[number];
        if (!pm) return { error: { code: "card_declined", message: "Your card number is invalid." } };
        return { setupIntent: { id: clientSecret.split("_secret_")[0], status: "succeeded", payment_method: pm } };
      },
      async handleNextAction({ clientSecret }) {
        calls.push(["handleNextAction", clientSecret]);
        const csrf = document.querySelector('meta[name="csrf-token"]').content;
        await fetch("/api/v1/payouts/standin/authenticate/", {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
          body: JSON.stringify({ client_secret: clientSecret, outcome: "succeed" }),
        });
        return { paymentIntent: { status: "processing" } };
      },
    };
  };
})();
"""


def _fake_stripe(page: Any) -> list[str]:
    loads: list[str] = []

    def stripe_js(route: Any) -> None:
        loads.append(route.request.url)
        route.fulfill(status=200, content_type="application/javascript", body=FAKE_STRIPE_JS)

    page.route("https://js.stripe.com/**", stripe_js)
    page.route(
        "**/api/v1/payouts/config/",
        lambda route: route.fulfill(
            status=200,
            content_type="application/json",
            body=json.dumps(
                {"mode": "test", "publishable_key": PUBLISHABLE, "card_entry": "stripe"}
            ),
        ),
    )
    return loads


def test_a_new_card_is_saved_with_stripe_js_and_3d_secure_goes_to_handle_next_action(
    new_page: Any, standin_shared: Any
) -> None:
    creator = make_creator(standin_shared, username="maker", display_name="Mae Maker")
    fan = UserFactory()
    Follow.objects.create(follower=fan, followee=creator)
    page = new_page(fan)
    loads = _fake_stripe(page)
    page.goto("/u/maker/")
    assert loads == []  # not on every page: only when a card form opens

    page.get_by_role("button", name="Send money").click()
    dialog = page.get_by_role("dialog", name="Send money to Mae Maker")
    expect(dialog.get_by_label("Card", exact=True)).to_be_checked()
    expect(dialog.locator("[data-new-card]")).to_be_visible()
    assert dialog.get_by_label(re.compile("4242 \\(succeeds\\)")).count() == 0  # no test cards
    card_number = dialog.get_by_label("Card number (fake Stripe field)")
    expect(card_number).to_be_visible()
    assert loads == ["https://js.stripe.com/v3"]

    dialog.get_by_role("button", name="$5.00").click()
    card_number.fill("4000 0000 0000 0000")
    dialog.get_by_role("button", name="Send").click()
    expect(dialog.locator("[data-card-error]")).to_have_text("Your card number is invalid.")
    assert not Tip.objects.filter(sender=fan).exists()  # nothing charged

    card_number.fill("4000 0027 6000 3184")
    dialog.get_by_role("button", name="Send").click()
    expect(dialog.get_by_text("Sent! Mae Maker gets $5.00.")).to_be_visible()

    tip = Tip.objects.get(sender=fan)
    assert (tip.status, tip.amount) == ("succeeded", 500)
    customer = PaymentCustomer.objects.get(user=fan)
    assert (customer.card_last4, customer.default_payment_method_id != "") == ("3220", True)
    calls = page.evaluate("window.__fakeStripe.calls")
    names = [c[0] for c in calls]
    assert names[:3] == ["Stripe", "create", "mount"]
    assert calls[0] == ["Stripe", PUBLISHABLE]
    setups = [c[1] for c in calls if c[0] == "confirmCardSetup"]
    assert len(setups) == 2
    assert all(s.startswith("seti_") and "_secret_" in s for s in setups)
    next_actions = [c[1] for c in calls if c[0] == "handleNextAction"]
    assert len(next_actions) == 1
    assert next_actions[0].startswith(f"{tip.stripe_payment_intent_id}_secret_")
    assert len(loads) == 1  # loaded once
    page.console.assert_clean(allow=("status of 400",))
