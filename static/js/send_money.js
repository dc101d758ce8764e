// "Send money" to a creator: amount -> fee quote (the gross-up) -> card -> POST a tip.
// The card (first card or saved card, test cards, 3-D Secure) is payment_card.js's.
import { api, clearFormErrors } from "./api.js";
import { awaitConfirmation, cardChooser, failureText, newKey } from "./payment_card.js";
import { busy, fill, h, money, openDialog, parseMoney, reportError } from "./ui.js";

const PRESETS = [100, 500, 1000, 2000];

export async function openSendMoney({ username, name, currency = "USD", beta = false }) {
  let key = newKey(); // one key per attempt: a double click charges once
  // What the beta's feedback carries without asking: the last tip, the step that went wrong.
  const context = { tip: null, step: "", error_code: "" };
  const feedbackBox = h("div", { "data-feedback-box": true });
  const quoteBox = h("div", { class: "quote", "aria-live": "polite" }, h("p", { class: "small" }, "Choose an amount to see the total."));
  const status = h("div", { role: "status", "aria-live": "polite", "data-tip-status": true });
  const amountInput = h("input", { id: "tip-amount", name: "amount", type: "text", inputmode: "decimal", autocomplete: "off", placeholder: "5.00", "aria-describedby": "tip-amount-hint" });
  const submit = h("button", { type: "submit" }, "Send");
  const card = cardChooser({ submit });
  const form = h("form", { novalidate: true, "data-send-money-form": true },
    h("div", { class: "form-error", "data-form-error": true, role: "alert", hidden: true }),
    h("p", {}, `100% of your tip goes to ${name}. You pay the card fees on top.`),
    h("div", { class: "actions", role: "group", "aria-label": "Quick amounts" },
      PRESETS.map((minor) => h("button", { type: "button", class: "secondary", onclick: () => { amountInput.value = (minor / 100).toFixed(2); quote(); } }, money(minor, currency)))),
    h("label", { for: "tip-amount" }, `Amount (${currency})`),
    amountInput,
    h("p", { id: "tip-amount-hint", class: "small" }, "The amount the creator receives."),
    quoteBox, card.element, status,
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
      Object.assign(context, { step: "quote", error_code: error.code || "" });
      fill(quoteBox, h("p", { class: "field-error" }, error.message));
    }
  }
  amountInput.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(quote, 250); });

  function watch(tip) {
    awaitConfirmation(status, {
      fetch: () => api(`payouts/tips/${tip.uuid}/`),
      pending: (fresh) => fresh.status === "requires_action",
      done,
      alive: () => dialog.open,
      clientSecret: tip.client_secret,
    });
  }

  function done(tip) {
    context.tip = tip.uuid;
    if (tip.status === "succeeded") Object.assign(context, { step: "done", error_code: "" });
    else if (tip.status === "failed") Object.assign(context, { step: "payment", error_code: tip.failure_code || "" });
    if (beta && tip.status !== "requires_action") offerFeedback();
    if (tip.status === "succeeded") {
      fill(status, h("p", { class: "quote" }, h("strong", {}, `Sent! ${name} gets ${money(tip.amount, tip.currency)}.`), ` You paid ${money(tip.charge_amount, tip.currency)}.`));
      submit.disabled = true;
      submit.textContent = "Sent ✓";
    } else if (tip.status === "requires_action") {
      watch(tip);
    } else if (tip.status === "failed") {
      fill(status, h("p", { class: "form-error" }, `The payment failed${failureText(tip.failure_code)}. Nothing was charged.`));
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
    await busy(submit, async () => {
      try {
        context.step = "card";
        const method = await card.paymentMethod();
        context.step = "payment";
        const tip = await api("payouts/tips/", {
          method: "POST",
          headers: { "Idempotency-Key": key },
          body: { creator: username, amount: minor, currency, ...(method ? { payment_method: method } : {}) },
        });
        done(tip);
      } catch (error) {
        context.error_code = error.code || "";
        if (beta) offerFeedback();
        card.refused(error);
        key = error.status >= 500 ? key : newKey();
        reportError(error, form);
      }
    });
  });

  function offerFeedback() {
    if (feedbackBox.childElementCount) return;
    feedbackBox.append(feedbackForm(context));
  }

  if (beta) {
    form.prepend(h("p", { class: "small", "data-beta-note": true }, h("span", { class: "pill soft", "data-beta-label": true }, "Beta"),
      " Send Money is new and you are one of the first to try it. ",
      h("button", { type: "button", class: "linklike", "data-feedback-open": true, onclick: offerFeedback }, "Tell us how it goes")));
  }
  const body = h("div", {}, form, feedbackBox);
  const dialog = openDialog({ title: `Send money to ${name}`, body });
  amountInput.focus();
  return dialog;
}

// The beta's feedback: a rating and a few words; the tip and the failed step go along.
function feedbackForm(context) {
  const status = h("div", { role: "status", "aria-live": "polite" });
  const stars = [1, 2, 3, 4, 5].map((n) => h("label", { class: "rating" },
    h("input", { type: "radio", name: "rating", value: String(n), required: true }), ` ${n}`));
  const text = h("textarea", { id: "feedback-text", name: "text", rows: 3, maxlength: 4000 });
  const submit = h("button", { type: "submit" }, "Send feedback");
  const form = h("form", { novalidate: true, "data-feedback-form": true, class: "feedback" },
    h("div", { class: "form-error", "data-form-error": true, role: "alert", hidden: true }),
    h("fieldset", {}, h("legend", {}, "How was Send Money? (1 = bad, 5 = great)"), stars),
    h("label", { for: "feedback-text" }, "Anything to tell us? (optional)"), text,
    status, h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormErrors(form);
    const rating = Number(form.querySelector("input[name=rating]:checked")?.value || 0);
    if (!rating) { fill(status, h("p", { class: "field-error" }, "Choose a rating from 1 to 5.")); return; }
    await busy(submit, async () => {
      try {
        await api("payouts/send-money/feedback/", {
          method: "POST",
          body: { rating, text: text.value, tip: context.tip, step: context.step, error_code: context.error_code },
        });
        fill(form, h("p", { class: "quote", "data-feedback-sent": true }, "Thank you! Your feedback goes straight to the team."));
      } catch (error) {
        reportError(error, form);
      }
    });
  });
  return form;
}
