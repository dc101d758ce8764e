// One "set a price" dialog for everything a creator prices (event and room tickets, a club's
// monthly membership): amount + currency, parsed to integer minor units, saved by the caller's
// `save(minor, currency)`; its errors are shown in the form (`onError` may rewrite or extend them).
import { clearFormErrors } from "./api.js";
import { busy, h, openDialog, parseMoney, reportError } from "./ui.js";

export function openPriceDialog({ id, title, label, intro, note, current, submitLabel, example, save, onError }) {
  const amount = h("input", { id: `${id}-amount`, name: "amount", type: "text", inputmode: "decimal", autocomplete: "off", placeholder: `${example}.00`, value: current ? (current.amount / 100).toFixed(2) : "" });
  const currencyInput = h("input", { id: `${id}-currency`, name: "currency", type: "text", maxlength: "3", autocomplete: "off", value: (current && current.currency) || "USD", class: "short" });
  const submit = h("button", { type: "submit" }, submitLabel);
  const form = h("form", { novalidate: true, [`data-${id}-form`]: true },
    h("div", { class: "form-error", "data-form-error": true, role: "alert", hidden: true }),
    h("p", {}, intro),
    h("p", { class: "small" }, note),
    h("label", { for: `${id}-amount` }, label), amount,
    h("label", { for: `${id}-currency` }, "Currency"), currencyInput,
    h("div", { class: "actions" }, submit));
  const dialog = openDialog({ title, body: form });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormErrors(form);
    const code = currencyInput.value.trim().toUpperCase();
    const minor = parseMoney(amount.value, code);
    if (!Number.isFinite(minor) || minor <= 0) {
      reportError({ name: "ApiError", message: `Enter a price like ${example} or ${example}.00.` }, null);
      amount.focus();
      return;
    }
    await busy(submit, async () => {
      try {
        await save(minor, code);
        dialog.close();
      } catch (error) {
        if (onError) onError(error, form, code);
        else reportError(error, form);
      }
    });
  });
  amount.focus();
  return dialog;
}
