// One event: when, hosts, RSVP, add to calendar (.ics), hosts start its room; the ticket
// (price, "Buy ticket", mine) and, for hosts, the ticket price.
import { api } from "../api.js";
import { openBuyTicket, openTicketPrice, ticketQuote, ticketStatusText } from "../tickets.js";
import { busy, confirmDialog, fill, h, money, reportError, toast, userLink, when } from "../ui.js";

const root = document.querySelector("[data-event]");
const id = root.dataset.event;
const me = document.body.dataset.user;
const $ = (sel) => root.querySelector(sel);

let quote = null; // the ticket quote, null when the event is free

function renderTicket(event, isHost) {
  const box = $("[data-event-ticket]");
  const parts = [];
  const mine = quote && quote.ticket;
  if (quote) {
    parts.push(h("p", { class: "price" }, h("span", { class: "muted" }, "Ticket "), h("strong", { class: "money", "data-event-price": true }, money(quote.amount, quote.currency))));
    if (mine && mine.status === "paid") parts.push(h("p", { class: "pill ok", "data-my-ticket": true }, "You have a ticket ✓"));
    else if (mine && mine.status !== "failed") parts.push(h("p", { class: "pill soft", "data-my-ticket": true }, `Your ticket: ${ticketStatusText(mine.status)}`));
    if (!isHost && (!mine || mine.status === "failed" || mine.status === "requires_action" || mine.status === "pending")) {
      const buy = h("button", { type: "button" }, "Buy ticket");
      buy.addEventListener("click", () => openBuyTicket({ kind: "events", id, title: event.title, onPaid: () => loadTicket(event, isHost) }).catch(reportError));
      parts.push(buy);
    }
  }
  if (isHost && !event.room_id) {
    const price = h("button", { type: "button", class: "secondary" }, quote ? "Change ticket price" : "Sell tickets");
    price.addEventListener("click", () => openTicketPrice({
      kind: "events", id, current: quote,
      onSaved: (p) => { toast(`Tickets cost ${money(p.amount, p.currency)}.`); loadTicket(event, isHost); },
    }));
    parts.push(price);
  }
  fill(box, parts);
  box.hidden = !parts.length;
}

async function loadTicket(event, isHost) {
  try {
    quote = await ticketQuote("events", id);
  } catch (error) {
    quote = null;
    if (error.status !== 404) reportError(error);
  }
  renderTicket(event, isHost);
}

function render(event) {
  document.title = `${event.title} · Clubhouse`;
  root.removeAttribute("aria-busy");
  fill($("[data-event-when]"), h("time", { datetime: event.starts_at }, when(event.starts_at, { dateStyle: "full", timeStyle: "short" })),
    event.club ? [" · ", h("a", { href: `/clubs/${event.club.slug}/` }, event.club.name)] : null,
    event.members_only ? " · members only" : null);
  $("[data-event-title]").textContent = event.title;
  $("[data-event-description]").textContent = event.description;
  fill($("[data-event-hosts]"), "Hosted by ", event.hosts.map((host, i) => [i ? ", " : "", userLink(host)]), ` · ${event.rsvp_count} going`);
  fill($("[data-event-topics]"), event.topics.map((t) => h("li", { class: "chip" }, t.name)));

  const isHost = event.hosts.some((host) => host.username === me);
  const rsvp = h("button", { type: "button", class: event.going ? "secondary" : "", "aria-pressed": String(event.going) }, event.going ? "Going ✓" : "RSVP — I'll be there");
  rsvp.addEventListener("click", () => busy(rsvp, async () => {
    try {
      render(await api(`events/${id}/rsvp/`, { method: event.going ? "DELETE" : "POST" }));
      toast(event.going ? "RSVP cancelled." : "You're going! We'll remind you when it starts.");
    } catch (error) { reportError(error); }
  }));
  const actions = [];
  if (event.room_id) actions.push(h("a", { class: "button", href: `/rooms/${event.room_id}/` }, "Join the live room"));
  else if (isHost) {
    const start = h("button", { type: "button" }, "Start the room now");
    start.addEventListener("click", () => busy(start, async () => {
      try {
        const snapshot = await api(`events/${id}/start/`, { method: "POST", body: { type: "open" } });
        location.assign(`/rooms/${snapshot.room.id}/`);
      } catch (error) { reportError(error); }
    }));
    actions.push(start);
  }
  if (!event.room_id) actions.push(rsvp);
  actions.push(h("a", { class: "button secondary", href: `/api/v1/events/${id}/ics/`, download: `event-${id}.ics` }, "Add to calendar (.ics)"));
  if (isHost && !event.room_id) {
    const cancel = h("button", { type: "button", class: "secondary" }, "Cancel the event");
    cancel.addEventListener("click", async () => {
      if (!(await confirmDialog({ title: "Cancel this event?", message: "It disappears from everyone's calendar.", confirm: "Cancel the event", danger: true }))) return;
      try {
        await api(`events/${id}/`, { method: "DELETE" });
        location.assign("/events/");
      } catch (error) { reportError(error); }
    });
    actions.push(cancel);
  }
  fill($("[data-event-actions]"), actions);
  renderTicket(event, isHost);
}

api(`events/${id}/`).then((event) => {
  render(event);
  return loadTicket(event, event.hosts.some((host) => host.username === me));
}).catch((error) => {
  $("[data-event-title]").textContent = error.status === 404 ? "No such event" : "Could not load this event";
  reportError(error);
});
