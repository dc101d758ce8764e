// "Send money" to a creator: amount -> fee quote (the gross-up) -> card -> POST a tip.
// First payment: a card. With the Stripe stand-in (test mode) the person picks one of
// Stripe's test cards, so no Stripe.js is loaded; later payments reuse the saved card.
// A 3-D Secure challenge (tip status requires_action) is shown and its outcome polled.
import { api, clearFormErrors } from "./api.js";
import { busy, fill, h, money, openDialog, parseMoney, reportError } from "./ui.js";

const PRESETS = [100, 500, 1000, 2000];
const TEST_CARDS = [
  ["pm_card_visa", "Visa •••• 4242 (succeeds)"],
  ["pm_card_threeDSecure2Required", "Visa •••• 3220 (asks for 3-D Secure)"],
  ["pm_card_chargeDeclined", "Visa •••• 0002 (declined)"],
];

function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

export async function openSendMoney({ username, name, currency = "USD" }) {
  const testMode = document.body.dataset.testMode === "1";
  let key = newKey(); // one key per attempt: a double click charges once
  const quoteBox = h("div", { class: "quote", "aria-live": "polite" }, h("p", { class: "small" }, "Choose an amount to see the total."));
  const cardBox = h("div", { "data-card": true }, h("p", { class: "muted" }, "Checking your saved card…"));
  const status = h("div", { role: "status", "aria-live": "polite", "data-tip-status": true });
  const amountInput = h("input", { id: "tip-amount", name: "amount", type: "text", inputmode: "decimal", autocomplete: "off", placeholder: "5.00", "aria-describedby": "tip-amount-hint" });
  const submit = h("button", { type: "submit" }, "Send");
  const form = h("form", { novalidate: true, "data-send-money-form": true },
    h("div", { class: "form-error", "data-form-error": true, role: "alert", hidden: true }),
    h("p", {}, `100% of your tip goes to ${name}. You pay the card fees on top.`),
    h("div", { class: "actions", role: "group", "aria-label": "Quick amounts" },
      PRESETS.map((minor) => h("button", { type: "button", class: "secondary", onclick: () => { amountInput.value = (minor / 100).toFixed(2); quote(); } }, money(minor, currency)))),
    h("label", { for: "tip-amount" }, `Amount (${currency})`),
    amountInput,
    h("p", { id: "tip-amount-hint", class: "small" }, "The amount the creator receives."),
    quoteBox, cardBox, status,
    h("div", { class: "actions" }, submit));

  let quoted = null;
  let timer = null;
  async function quote() {
    const minor = parseMoney(amountInput.value, currency);
    quoted = null;
    if (!amountInput.value.trim()) { fill(quoteBox, h("p", { class: "small" }, "Choose an amount to see the total.")); return; }
    if (!Number.isFinite(minor) || minor <= 0) { fill(quoteBox, h("p", { class: "field-error" }, "Enter an amount like 5 or 5.00.")); return; }
    try {
      const q = await api("payouts/tips/quote/", { query: { amount: minor, currency } });
      quoted = q;
      fill(quoteBox, h("dl", {},
        h("dt", {}, `${name} receives`), h("dd", { class: "money" }, money(q.tip, q.currency)),
        h("dt", {}, "Card and processing fees"), h("dd", { class: "money" }, money(q.fee, q.currency)),
        h("dt", { class: "total" }, "You pay"), h("dd", { class: "money total", "data-charge": true }, money(q.charge, q.currency))));
    } catch (error) {
      fill(quoteBox, h("p", { class: "field-error" }, error.message));
    }
  }
  amountInput.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(quote, 250); });

  let savedCard = null;
  try {
    savedCard = (await api("payouts/payment-method/")).card;
  } catch (error) { reportError(error); }
  function drawCard() {
    const choices = [];
    if (savedCard) choices.push(["", `Saved card: ${savedCard.brand} •••• ${savedCard.last4}`]);
    if (testMode) choices.push(...TEST_CARDS);
    if (!choices.length) {
      fill(cardBox, h("p", { class: "form-error" }, "Adding a card needs Stripe.js, which this web client does not load yet. Use the mobile app to add a card."));
      submit.disabled = true;
      return;
    }
    fill(cardBox, h("fieldset", {}, h("legend", {}, savedCard ? "Pay with" : "Add a card (test mode: Stripe's test cards)"),
      choices.map(([value, label], i) => h("label", { class: "choice" },
        h("input", { type: "radio", name: "payment_method", value, checked: i === 0 }), label))));
  }
  drawCard();

  async function watch(tip) {
    // 3-D Secure: the bank's challenge happens outside this page; the webhook settles the tip.
    fill(status, h("div", { class: "quote" },
      h("p", {}, h("strong", {}, "Your bank needs to confirm this payment (3-D Secure).")),
      h("p", { class: "small" }, testMode
        ? "Test mode: the stand-in's cardholder step completes it (or fails it); this page updates by itself."
        : "Follow your bank's prompt; this page updates by itself.")));
    for (let i = 0; i < 60; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 3000));
      if (!dialog.open) return;
      const fresh = await api(`payouts/tips/${tip.uuid}/`).catch(() => null);
      if (fresh && fresh.status !== "requires_action") { done(fresh); return; }
    }
  }

  function done(tip) {
    if (tip.status === "succeeded") {
      fill(status, h("p", { class: "quote" }, h("strong", {}, `Sent! ${name} gets ${money(tip.amount, tip.currency)}.`), ` You paid ${money(tip.charge_amount, tip.currency)}.`));
      submit.disabled = true;
      submit.textContent = "Sent ✓";
    } else if (tip.status === "requires_action") {
      watch(tip);
    } else if (tip.status === "failed") {
      fill(status, h("p", { class: "form-error" }, `The payment failed${tip.failure_code ? ` (${tip.failure_code.replaceAll("_", " ")})` : ""}. Nothing was charged.`));
      key = newKey();
    } else {
      fill(status, h("p", { class: "quote" }, "Processing… we'll let you know when it goes through."));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormErrors(form);
    fill(status);
    const minor = parseMoney(amountInput.value, currency);
    if (!Number.isFinite(minor) || minor <= 0) {
      reportError({ name: "ApiError", message: "Enter an amount." }, null);
      amountInput.focus();
      return;
    }
    const method = form.querySelector("input[name=payment_method]:checked")?.value || "";
    await busy(submit, async () => {
      try {
        const tip = await api("payouts/tips/", {
          method: "POST",
          headers: { "Idempotency-Key": key },
          body: { creator: username, amount: minor, currency, ...(method ? { payment_method: method } : {}) },
        });
        if (method) savedCard = null; // the new card is now the saved one
        done(tip);
      } catch (error) {
        if (error.code === "payment_method_required") { savedCard = null; drawCard(); }
        key = error.status >= 500 ? key : newKey();
        reportError(error, form);
      }
    });
  });

  const dialog = openDialog({ title: `Send money to ${name}`, body: form });
  amountInput.focus();
  return dialog;
}
