// One event: when, hosts, RSVP, add to calendar (.ics), hosts start its room.
import { api } from "../api.js";
import { busy, confirmDialog, fill, h, reportError, toast, userLink, when } from "../ui.js";

const root = document.querySelector("[data-event]");
const id = root.dataset.event;
const me = document.body.dataset.user;
const $ = (sel) => root.querySelector(sel);

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
}

api(`events/${id}/`).then(render).catch((error) => {
  $("[data-event-title]").textContent = error.status === 404 ? "No such event" : "Could not load this event";
  reportError(error);
});
