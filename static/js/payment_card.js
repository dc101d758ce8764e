// The card part of every payment dialog (Send Money, tickets, club memberships).
//
// How a new card is entered depends on `GET payouts/config/` (the same answer the apps get):
//  - "test_cards" (the project's Stripe stand-in): the person picks one of Stripe's test
//    payment methods; Stripe.js is never loaded.
//  - "stripe" (real Stripe keys): Stripe.js is loaded from https://js.stripe.com/v3 when a
//    card form opens, a Card Element takes the card (the number never reaches this server),
//    a SetupIntent (`payouts/setup-intent/`) saves it, and the payment uses the saved method.
//  - "unavailable" (real Stripe without a publishable key): only a saved card can pay.
// Later payments reuse the saved card (`payouts/payment-method/`). A 3-D Secure challenge is
// handed to Stripe.js (`handleNextAction`), or to the stand-in's test page, then the server's
// state is polled until the webhook has settled the payment.
import { api, ApiError } from "./api.js";
import { fill, h, reportError } from "./ui.js";

export const TEST_CARDS = [
  ["pm_card_visa", "Visa •••• 4242 (succeeds)"],
  ["pm_card_threeDSecure2Required", "Visa •••• 3220 (asks for 3-D Secure)"],
  ["pm_card_chargeDeclined", "Visa •••• 0002 (declined)"],
];
const NEW_CARD = "new_card";
export const STRIPE_JS_URL = "https://js.stripe.com/v3";

/** A fresh idempotency key: one per attempt, so a double click charges once. */
export function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

let configPromise = null;
/** The server's payments config ({mode, publishable_key, card_entry}), fetched once. */
export function paymentsConfig() {
  if (!configPromise) {
    configPromise = api("payouts/config/").catch((error) => { configPromise = null; throw error; });
  }
  return configPromise;
}

let stripePromise = null;
/** Stripe.js from Stripe's domain (Stripe requires it; never bundled), loaded once, on demand. */
export function loadStripe(publishableKey) {
  if (!stripePromise) {
    stripePromise = new Promise((resolve, reject) => {
      const ready = () => (window.Stripe ? resolve(window.Stripe(publishableKey)) : reject(new Error("Stripe.js did not start")));
      if (window.Stripe) { ready(); return; }
      const script = document.createElement("script");
      script.src = STRIPE_JS_URL;
      script.async = true;
      script.dataset.stripeJs = "";
      script.addEventListener("load", ready);
      script.addEventListener("error", () => { script.remove(); reject(new Error("Stripe.js could not be loaded")); });
      document.head.append(script);
    }).catch(() => {
      stripePromise = null;
      throw new ApiError({ code: "stripe_js_unavailable", message: "The secure card form could not be loaded. Check your connection and try again." });
    });
  }
  return stripePromise;
}

/**
 * The card chooser. `submit` is disabled when no card can be used.
 * Returns {element, ready, paymentMethod(), refused(error)}:
 *  - `await paymentMethod()`: the payment method id to send, "" for the saved card. With
 *    Stripe.js and a new card it first saves the card through a SetupIntent (the bank may ask
 *    for 3-D Secure there); it throws an ApiError-shaped error the dialog shows as usual;
 *  - `refused(error)`: after an API error (a `payment_method_required` answer redraws it).
 */
export function cardChooser({ submit, name = "payment_method" }) {
  const element = h("div", { "data-card": true }, h("p", { class: "muted" }, "Checking your saved card…"));
  let savedCard = null;
  let config = { mode: "standin", card_entry: document.body.dataset.testMode === "1" ? "test_cards" : "unavailable", publishable_key: null };
  let stripeCard = null; // {stripe, card (the Element), holder (its box)} once mounted

  const cardBox = h("div", { class: "stripe-card", "data-stripe-card": true, hidden: true });
  const cardError = h("p", { class: "field-error", role: "alert", "data-card-error": true, hidden: true });
  const cardField = h("div", { "data-new-card": true, hidden: true },
    h("p", { class: "small", id: `${name}-card-label` }, "Card number, expiry and CVC (entered in Stripe's secure field; they never reach our server)."),
    cardBox, cardError);

  function showCardError(text) {
    cardError.textContent = text || "";
    cardError.hidden = !text;
  }

  async function mountStripeCard() {
    if (stripeCard) return stripeCard;
    cardField.hidden = false;
    cardBox.hidden = false;
    fill(cardBox, h("p", { class: "muted" }, "Loading the secure card form…"));
    const stripe = await loadStripe(config.publishable_key);
    fill(cardBox);
    const card = stripe.elements().create("card", { hidePostalCode: false });
    card.on("change", (event) => showCardError(event.error ? event.error.message : ""));
    card.mount(cardBox);
    stripeCard = { stripe, card };
    return stripeCard;
  }

  function selected() {
    return element.querySelector(`input[name=${name}]:checked`)?.value ?? "";
  }

  function syncNewCard() {
    const wantsNew = config.card_entry === "stripe" && selected() === NEW_CARD;
    cardField.hidden = !wantsNew;
    if (wantsNew) {
      mountStripeCard().catch((error) => {
        fill(cardBox);
        showCardError(error.message);
      });
    }
  }

  function draw() {
    const choices = [];
    if (savedCard) choices.push(["", `Saved card: ${savedCard.brand} •••• ${savedCard.last4}`]);
    if (config.card_entry === "test_cards") choices.push(...TEST_CARDS);
    if (config.card_entry === "stripe") choices.push([NEW_CARD, savedCard ? "A new card" : "Card"]);
    if (!choices.length) {
      fill(element, h("p", { class: "form-error" }, "Adding a card is not available right now: card payments are not fully set up on this server. Use a saved card, or try again later."));
      if (submit) submit.disabled = true;
      return;
    }
    const legend = savedCard ? "Pay with" : config.card_entry === "test_cards" ? "Add a card (test mode: Stripe's test cards)" : "Add a card";
    fill(element, h("fieldset", {}, h("legend", {}, legend),
      choices.map(([value, label], i) => h("label", { class: "choice" },
        h("input", { type: "radio", name, value, checked: i === 0, onchange: syncNewCard }), label))),
    cardField);
    syncNewCard();
  }

  const ready = Promise.all([
    paymentsConfig().then((answer) => { config = answer; }),
    api("payouts/payment-method/").then((answer) => { savedCard = answer.card; }),
  ])
    .catch((error) => reportError(error))
    .then(draw);

  /** Save the new card through a SetupIntent (Stripe.js); returns its payment method id. */
  async function saveNewCard() {
    const { stripe, card } = await mountStripeCard();
    showCardError("");
    const intent = await api("payouts/setup-intent/", { method: "POST" });
    const result = await stripe.confirmCardSetup(intent.client_secret, { payment_method: { card } });
    if (result.error) {
      showCardError(result.error.message);
      throw new ApiError({ code: result.error.code || "card_error", message: result.error.message || "The card could not be saved." });
    }
    const pm = result.setupIntent.payment_method;
    return typeof pm === "string" ? pm : pm.id;
  }

  return {
    element,
    ready,
    async paymentMethod() {
      const value = selected();
      if (value === NEW_CARD) return saveNewCard();
      return value;
    },
    /** The chosen option as it stands (no Stripe.js call): "" for the saved card. */
    method: () => (selected() === NEW_CARD ? "" : selected()),
    refused(error) {
      if (error && error.code === "payment_method_required") { savedCard = null; draw(); }
    },
  };
}

/**
 * 3-D Secure. With Stripe.js and the payment's `clientSecret`, Stripe shows the bank's
 * challenge (`handleNextAction`); in stand-in mode the page offers the stand-in's test
 * authentication (complete or fail it, as Stripe's test pages do). Either way the webhook
 * settles the payment on the server: this polls `fetch()` every 3 s (for at most 3 minutes,
 * at once after an answer) until `pending(fresh)` is false, and calls `done(fresh)`.
 * Stops when `alive()` turns false.
 */
export async function awaitConfirmation(box, { fetch, pending, done, alive, clientSecret = null }) {
  let wake = null;
  const note = h("p", { class: "small", "data-authentication-note": true });
  const actions = h("div", { class: "actions" });
  fill(box, h("div", { class: "quote", "data-payment-pending": true },
    h("p", {}, h("strong", {}, "Your bank needs to confirm this payment (3-D Secure).")),
    note, actions));
  const config = await paymentsConfig().catch(() => null);
  const entry = config ? config.card_entry : document.body.dataset.testMode === "1" ? "test_cards" : "unavailable";

  if (entry === "test_cards" && clientSecret) {
    note.textContent = "Test mode: this is where your bank would ask you to confirm. Choose the bank's answer.";
    const answer = (outcome) => async () => {
      actions.querySelectorAll("button").forEach((b) => { b.disabled = true; });
      try {
        await api("payouts/standin/authenticate/", { method: "POST", body: { client_secret: clientSecret, outcome } });
        note.textContent = "Answer sent. Waiting for the payment to settle…";
        fill(actions);
      } catch (error) {
        actions.querySelectorAll("button").forEach((b) => { b.disabled = false; });
        reportError(error);
      }
      if (wake) wake();
    };
    fill(actions,
      h("button", { type: "button", "data-authenticate": "succeed", onclick: answer("succeed") }, "Complete test authentication"),
      h("button", { type: "button", class: "secondary", "data-authenticate": "fail", onclick: answer("fail") }, "Fail test authentication"));
    actions.querySelector("button").focus(); // the next step, in view and on the keyboard
  } else if (entry === "test_cards") {
    note.textContent = "Test mode: the stand-in's cardholder step completes it (or fails it); this page updates by itself.";
  } else if (entry === "stripe" && clientSecret) {
    note.textContent = "Follow your bank's prompt; this page updates by itself.";
    loadStripe(config.publishable_key)
      .then((stripe) => stripe.handleNextAction({ clientSecret }))
      .then((result) => {
        if (result && result.error) note.textContent = `Your bank did not confirm the payment: ${result.error.message}`;
        if (wake) wake();
      })
      .catch((error) => { note.textContent = error.message; });
  } else {
    note.textContent = "Follow your bank's prompt; this page updates by itself.";
  }

  for (let i = 0; i < 60; i += 1) {
    await new Promise((resolve) => { wake = resolve; setTimeout(resolve, 3000); });
    wake = null;
    if (!alive()) return;
    const fresh = await fetch().catch(() => null);
    if (fresh && !pending(fresh)) { done(fresh); return; }
  }
}

/** "card_declined" -> "card declined" for a sentence. */
export function failureText(code) {
  return code ? ` (${String(code).replaceAll("_", " ")})` : "";
}
