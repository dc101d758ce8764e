// The card part of every payment dialog (Send Money, tickets, club memberships).
// First payment: a card. With the Stripe stand-in (test mode) the person picks one of Stripe's
// test payment methods, so no Stripe.js is loaded; later payments reuse the saved card
// (`payouts/payment-method/`). A 3-D Secure challenge is shown and its outcome polled.
import { api } from "./api.js";
import { fill, h, reportError } from "./ui.js";

export const TEST_CARDS = [
  ["pm_card_visa", "Visa •••• 4242 (succeeds)"],
  ["pm_card_threeDSecure2Required", "Visa •••• 3220 (asks for 3-D Secure)"],
  ["pm_card_chargeDeclined", "Visa •••• 0002 (declined)"],
];

/** A fresh idempotency key: one per attempt, so a double click charges once. */
export function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

/**
 * The card chooser. `submit` is disabled when no card can be used.
 * Returns {element, ready, method(), refused(error)}:
 *  - `method()`: the chosen payment method id, "" for the saved card (a new card is saved by
 *    the server with the payment; the next dialog shows it as the saved card);
 *  - `refused(error)`: after an API error (a `payment_method_required` answer redraws it).
 */
export function cardChooser({ submit, name = "payment_method" }) {
  const testMode = document.body.dataset.testMode === "1";
  const element = h("div", { "data-card": true }, h("p", { class: "muted" }, "Checking your saved card…"));
  let savedCard = null;

  function draw() {
    const choices = [];
    if (savedCard) choices.push(["", `Saved card: ${savedCard.brand} •••• ${savedCard.last4}`]);
    if (testMode) choices.push(...TEST_CARDS);
    if (!choices.length) {
      fill(element, h("p", { class: "form-error" }, "Adding a card needs Stripe.js, which this web client does not load yet. Use the mobile app to add a card."));
      if (submit) submit.disabled = true;
      return;
    }
    fill(element, h("fieldset", {}, h("legend", {}, savedCard ? "Pay with" : "Add a card (test mode: Stripe's test cards)"),
      choices.map(([value, label], i) => h("label", { class: "choice" },
        h("input", { type: "radio", name, value, checked: i === 0 }), label))));
  }

  const ready = api("payouts/payment-method/")
    .then((answer) => { savedCard = answer.card; })
    .catch((error) => reportError(error))
    .then(draw);

  return {
    element,
    ready,
    method: () => element.querySelector(`input[name=${name}]:checked`)?.value || "",
    refused(error) {
      if (error && error.code === "payment_method_required") { savedCard = null; draw(); }
    },
  };
}

/**
 * 3-D Secure: the bank's challenge happens outside this page; the webhook settles the payment.
 * Shows the pending message in `box`, then polls `fetch()` every 3 s (for at most 3 minutes)
 * until `pending(fresh)` is false, and calls `done(fresh)`. Stops when `alive()` turns false.
 */
export async function awaitConfirmation(box, { fetch, pending, done, alive }) {
  const testMode = document.body.dataset.testMode === "1";
  fill(box, h("div", { class: "quote", "data-payment-pending": true },
    h("p", {}, h("strong", {}, "Your bank needs to confirm this payment (3-D Secure).")),
    h("p", { class: "small" }, testMode
      ? "Test mode: the stand-in's cardholder step completes it (or fails it); this page updates by itself."
      : "Follow your bank's prompt; this page updates by itself.")));
  for (let i = 0; i < 60; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 3000));
    if (!alive()) return;
    const fresh = await fetch().catch(() => null);
    if (fresh && !pending(fresh)) { done(fresh); return; }
  }
}

/** "card_declined" -> "card declined" for a sentence. */
export function failureText(code) {
  return code ? ` (${String(code).replaceAll("_", " ")})` : "";
}
