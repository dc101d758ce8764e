// Tickets for priced events and rooms: the "Buy ticket" dialog (the card flow is
// payment_card.js's) and the creator's "Ticket price" dialog.
// The server derives the purchase's idempotency key from what is bought (buyer + event/room +
// attempt), so a double click or a retry after a lost answer never buys twice.
import { api, clearFormErrors } from "./api.js";
import { awaitConfirmation, cardChooser, failureText } from "./payment_card.js";
import { openPriceDialog } from "./price_dialog.js";
import { busy, fill, h, money, openDialog, reportError } from "./ui.js";

const TICKET_STATUS = {
  pending: "Processing",
  requires_action: "Waiting for your bank",
  paid: "Paid",
  failed: "Failed",
  refund_pending: "Being refunded",
  refunded: "Refunded",
  refund_failed: "Refund failed (staff are on it)",
  disputed: "Disputed",
};

export function ticketStatusText(status) {
  return TICKET_STATUS[status] || String(status || "").replaceAll("_", " ");
}

/** GET the quote for an event's or a room's ticket: {amount, currency, platform_fee, ticket}
 * or null when it is free. `kind` is "events" or "rooms". The prices read comes first, so
 * that a free event or room is not a 404 in the console. */
export async function ticketQuote(kind, id) {
  const prices = await api("payouts/prices/", { query: { [kind]: String(id) } });
  if (!prices[kind][String(id)]) return null;
  try {
    return await api(`payouts/${kind}/${id}/ticket/`);
  } catch (error) {
    if (error.code === "ticket_not_for_sale") return null;
    throw error;
  }
}

/** Event cards (`[data-event-id]`, from cards.js) inside `container` get a "Ticket $5.00"
 * pill when the event is priced: one read for the whole list. Never fails the list. */
export async function markEventPrices(container) {
  const cards = [...container.querySelectorAll("[data-event-id]")].filter((card) => !card.querySelector("[data-card-price]"));
  if (!cards.length) return;
  try {
    const ids = [...new Set(cards.map((card) => card.dataset.eventId))].slice(0, 100);
    const { events } = await api("payouts/prices/", { query: { events: ids.join(",") } });
    for (const card of cards) {
      const price = events[card.dataset.eventId];
      if (!price || card.querySelector("[data-card-price]")) continue;
      card.querySelector("h3")?.after(h("p", { class: "small", "data-card-price": true },
        h("span", { class: "pill soft" }, `Ticket ${money(price.amount, price.currency)}`)));
    }
  } catch (error) {
    console.warn(error);
  }
}

/**
 * The "Buy ticket" dialog. `onPaid(ticket)` runs once the ticket is paid (the caller then
 * lets the person in: the room page reconnects, the event page redraws).
 */
export async function openBuyTicket({ kind, id, title, onPaid }) {
  const quote = await ticketQuote(kind, id);
  if (!quote) {
    const dialog = openDialog({ title: "No ticket needed", body: h("p", {}, "This is free: there is no ticket to buy.") });
    if (onPaid) onPaid(null);
    return dialog;
  }
  // The price shown is the price paid: it goes with the purchase, and a price changed in the
  // meantime is a 409 `price_changed` carrying the new one, shown here for the buyer to confirm.
  let shown = { amount: quote.amount, currency: quote.currency };
  const price = money(shown.amount, shown.currency);
  const status = h("div", { role: "status", "aria-live": "polite", "data-ticket-status": true });
  const submit = h("button", { type: "submit" }, `Buy ticket · ${price}`);
  const card = cardChooser({ submit, name: "ticket_payment_method" });
  const priceText = h("dd", { class: "money total", "data-ticket-price": true }, price);
  const form = h("form", { novalidate: true, "data-buy-ticket-form": true },
    h("div", { class: "form-error", "data-form-error": true, role: "alert", hidden: true }),
    h("p", {}, title ? ["A ticket for ", h("strong", {}, title), "."] : "A ticket for this room."),
    h("div", { class: "quote" }, h("dl", {},
      h("dt", { class: "total" }, "Price"), priceText)),
    h("p", { class: "small" }, "One ticket per person; it admits you for the whole room, also if you leave and come back. If the event is cancelled you are refunded."),
    card.element, status,
    h("div", { class: "actions" }, submit));

  let finished = false;
  function done(ticket) {
    if (ticket.status === "paid") {
      finished = true;
      fill(status, h("p", { class: "quote" }, h("strong", {}, "You have a ticket ✓"), ` You paid ${money(ticket.amount, ticket.currency)}.`));
      submit.disabled = true;
      submit.textContent = "Ticket bought ✓";
      if (onPaid) onPaid(ticket);
    } else if (ticket.status === "requires_action") {
      awaitConfirmation(status, {
        fetch: () => api(`payouts/tickets/${ticket.uuid}/`),
        pending: (fresh) => fresh.status === "requires_action" || fresh.status === "pending",
        done,
        alive: () => dialog.open,
        clientSecret: ticket.client_secret,
      });
    } else if (ticket.status === "failed") {
      fill(status, h("p", { class: "form-error" }, `The payment failed${failureText(ticket.failure_code)}. Nothing was charged. Try another card.`));
    } else {
      fill(status, h("p", { class: "quote" }, `${ticketStatusText(ticket.status)}…`));
    }
  }

  // Already bought, or waiting for the bank: say so (and keep watching) instead of selling again.
  if (quote.ticket && ["paid", "requires_action"].includes(quote.ticket.status)) done(quote.ticket);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (finished) return;
    clearFormErrors(form);
    fill(status);
    await busy(submit, async () => {
      try {
        const method = await card.paymentMethod();
        const ticket = await api(`payouts/${kind}/${id}/ticket/`, {
          method: "POST",
          body: { ...shown, ...(method ? { payment_method: method } : {}) },
        });
        done(ticket);
      } catch (error) {
        if (error.code === "price_changed" && error.extra?.price) {
          const before = money(shown.amount, shown.currency);
          shown = { amount: error.extra.price.amount, currency: error.extra.price.currency };
          const now = money(shown.amount, shown.currency);
          priceText.textContent = now;
          submit.textContent = `Buy ticket · ${now}`;
          error.message = `The price changed from ${before} to ${now}. Nothing was charged. Press "Buy ticket · ${now}" to buy at the new price.`;
        } else {
          card.refused(error);
        }
        reportError(error, form);
      }
    });
    if (finished) submit.disabled = true;
  });

  const dialog = openDialog({ title: "Buy a ticket", body: form });
  await card.ready;
  if (!finished) submit.focus();
  return dialog;
}

/**
 * The creator's "Ticket price" dialog: PUT payouts/{events|rooms}/<id>/ticket-price/.
 * Errors (not a creator, not onboarded, price locked after a sale, out of range) are shown in
 * the form in the server's words. `onSaved(price)` after a change.
 */
export function openTicketPrice({ kind, id, current, onSaved }) {
  return openPriceDialog({
    id: "ticket-price",
    title: "Ticket price",
    label: "Price",
    intro: kind === "events"
      ? "Listeners buy a ticket before they join this event's room. The platform keeps a share of each ticket; the rest is paid to you."
      : "From now on, people who are not in the room yet need a ticket to join. Everyone already here stays.",
    note: "Once someone has bought a ticket the price cannot change.",
    current,
    submitLabel: current ? "Change price" : "Set price",
    example: 5,
    save: async (minor, code) => {
      const price = await api(`payouts/${kind}/${id}/ticket-price/`, { method: "PUT", body: { amount: minor, currency: code } });
      if (onSaved) onSaved(price);
    },
    onError: (error, form, code) => {
      reportError(readablePriceError(error, code), form);
      const next = { ticket_not_creator: ["/creator/apply/", "Apply to the creator program"], ticket_creator_not_onboarded: ["/wallet/", "Set up payouts in your wallet"] }[error.code];
      const box = form.querySelector("[data-form-error]");
      if (next && box && !box.hidden) box.append(" ", h("a", { href: next[0] }, next[1]));
    },
  });
}

/** The range in the server's answer is in minor units ("Between 100 and 100000."): say it in
 * money ("Between $1.00 and $1,000.00."). Other errors pass through. */
function readablePriceError(error, currency) {
  if (error.code !== "ticket_price_out_of_range") return error;
  const match = String(error.message).match(/(\d+)\D+(\d+)/);
  if (!match) return error;
  const text = `A ticket costs between ${money(Number(match[1]), currency)} and ${money(Number(match[2]), currency)}.`;
  error.message = text;
  error.fields = { amount: [text] };
  return error;
}
