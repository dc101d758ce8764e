// One event: when, hosts, RSVP (until it is full), add to calendar (.ics), hosts start its
// room, edit or reschedule it (options: capacity, room type, members-only, co-hosts); the
// ticket (price, "Buy ticket", mine) and, for hosts, the ticket price.
import { api, clearFormErrors } from "../api.js";
import { localInputValue, optionFields, optionsBody, ROOM_TYPES, startsAtValue } from "../event_form.js";
import { openBuyTicket, openTicketPrice, ticketQuote, ticketStatusText } from "../tickets.js";
import { busy, confirmDialog, fill, h, money, openDialog, reportError, toast, userLink, when } from "../ui.js";

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

const ROOM_TYPE_NAMES = Object.fromEntries(ROOM_TYPES.map(([value, label]) => [value, label.split(":")[0].toLowerCase()]));

function seatsText(event) {
  if (event.capacity == null) return ` · ${event.rsvp_count} going`;
  const left = Math.max(event.capacity - event.rsvp_count, 0);
  return ` · ${event.rsvp_count} of ${event.capacity} going${left ? ` · ${left} ${left === 1 ? "seat" : "seats"} left` : " · full"}`;
}

function editDialog(event) {
  const form = h("form", { novalidate: true },
    h("div", { class: "form-error", "data-form-error": true, role: "alert", hidden: true }),
    h("label", { for: "ev-title" }, "Title"), h("input", { id: "ev-title", name: "title", type: "text", maxlength: "120", required: true, value: event.title }),
    h("label", { for: "ev-when" }, `Starts (${Intl.DateTimeFormat().resolvedOptions().timeZone})`),
    h("input", { id: "ev-when", name: "starts_at", type: "datetime-local", value: localInputValue(new Date(event.starts_at)), required: true, "aria-describedby": "ev-when-help" }),
    h("p", { class: "small muted", id: "ev-when-help" }, "A new time is sent to everyone going, and their reminder follows it."),
    h("label", { for: "ev-desc" }, "Description (optional)"), h("textarea", { id: "ev-desc", name: "description", maxlength: "2000" }, event.description),
    // the other hosts and those asked: you stay a host (added below), the creator always does
    optionFields({ event, cohosts: [...event.hosts, ...(event.pending_cohosts || [])].filter((u) => u.username !== me), clubChosen: Boolean(event.club) }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Save")));
  const dialog = openDialog({ title: "Edit or reschedule", body: form });
  form.elements.title.focus();
  form.addEventListener("submit", async (submitted) => {
    submitted.preventDefault();
    clearFormErrors(form);
    await busy(form.querySelector("[type=submit]"), async () => {
      try {
        const moved = startsAtValue(form) !== new Date(event.starts_at).toISOString();
        const body = { title: form.elements.title.value.trim(), description: form.elements.description.value, ...(await optionsBody(form)) };
        const mine = event.hosts.find((u) => u.username === me);
        if (mine && !body.host_ids.includes(mine.id)) body.host_ids.push(mine.id);
        // the time only when it changed: a past time left as it was is no error to show
        if (moved) body.starts_at = startsAtValue(form);
        const saved = await api(`events/${id}/`, { method: "PATCH", body });
        dialog.close();
        render(saved);
        toast(moved ? "Rescheduled: everyone going is told the new time." : "Saved.");
      } catch (error) { reportError(error, form); }
    });
  });
}

function render(event) {
  document.title = `${event.title} · Clubhouse`;
  root.removeAttribute("aria-busy");
  fill($("[data-event-when]"), h("time", { datetime: event.starts_at, "data-event-time": true }, when(event.starts_at, { dateStyle: "full", timeStyle: "short" })),
    event.club ? [" · ", h("a", { href: `/clubs/${event.club.slug}/` }, event.club.name)] : null,
    event.members_only ? " · members only" : null,
    ` · ${ROOM_TYPE_NAMES[event.room_type] || "open"} room`);
  $("[data-event-title]").textContent = event.title;
  $("[data-event-description]").textContent = event.description;
  fill($("[data-event-hosts]"), "Hosted by ", event.hosts.map((host, i) => [i ? ", " : "", userLink(host)]), h("span", { "data-event-seats": true }, seatsText(event)),
    event.pending_cohosts?.length ? h("span", { "data-pending-cohosts": true }, " · asked to co-host: ", event.pending_cohosts.map((u, i) => [i ? ", " : "", userLink(u)])) : null);
  fill($("[data-event-topics]"), event.topics.map((t) => h("li", { class: "chip" }, t.name)));

  const isHost = event.hosts.some((host) => host.username === me);
  const full = event.capacity != null && event.rsvp_count >= event.capacity && !event.going;
  const rsvp = full
    ? h("button", { type: "button", class: "secondary", disabled: true }, "Full — no seats left")
    : h("button", { type: "button", class: event.going ? "secondary" : "", "aria-pressed": String(event.going) }, event.going ? "Going ✓" : "RSVP — I'll be there");
  rsvp.addEventListener("click", () => busy(rsvp, async () => {
    try {
      render(await api(`events/${id}/rsvp/`, { method: event.going ? "DELETE" : "POST" }));
      toast(event.going ? "RSVP cancelled." : "You're going! We'll remind you when it starts.");
    } catch (error) {
      reportError(error);
      if (error.code === "event_full") api(`events/${id}/`).then(render).catch(reportError); // show it full
    }
  }));
  const actions = [];
  if (event.room_id) actions.push(h("a", { class: "button", href: `/rooms/${event.room_id}/` }, "Join the live room"));
  else if (isHost) {
    const start = h("button", { type: "button" }, "Start the room now");
    start.addEventListener("click", () => busy(start, async () => {
      try {
        const snapshot = await api(`events/${id}/start/`, { method: "POST", body: {} }); // the event's room type
        location.assign(`/rooms/${snapshot.room.id}/`);
      } catch (error) { reportError(error); }
    }));
    actions.push(start);
  }
  if (!event.room_id) actions.push(rsvp);
  actions.push(h("a", { class: "button secondary", href: `/api/v1/events/${id}/ics/`, download: `event-${id}.ics` }, "Add to calendar (.ics)"));
  if (isHost && !event.room_id) {
    const edit = h("button", { type: "button", class: "secondary" }, "Edit or reschedule");
    edit.addEventListener("click", () => editDialog(event));
    actions.push(edit);
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
