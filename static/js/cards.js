// Cards shared by several pages: a live room, an event, a person.
import { avatar, h, userLink, when } from "./ui.js";

const TYPE_LABEL = { social: "Social", closed: "Closed" };

export function roomCard(room) {
  const speakers = room.speakers || [];
  const listeners = Math.max(0, (room.participant_count || 0) - (room.speaker_count || 0));
  // A full room (the server refuses newcomers with room_full) is not a link: its card says so
  // and its join button is disabled. Someone already in it can still go back.
  const closed = room.full && !room.joined;
  const body = [
    h("div", { class: "room-card-head" },
      h("span", { class: "pill live" }, "LIVE"),
      room.full ? h("span", { class: "pill full" }, "Room full") : null,
      room.club ? h("span", { class: "pill club" }, room.club.name) : null,
      TYPE_LABEL[room.type] ? h("span", { class: "pill soft" }, TYPE_LABEL[room.type]) : null),
    h("h3", {}, room.title || "Untitled room"),
    h("div", { class: "room-card-people" },
      h("div", { class: "avatars", "aria-hidden": "true" }, speakers.slice(0, 4).map((s) => avatar(s, "sm"))),
      h("ul", { class: "speaker-names" }, speakers.map((s) => h("li", {}, s.name, s.role === "moderator" ? h("span", { class: "small" }, " · mod") : "")))),
    h("p", { class: "small room-card-counts" },
      h("span", {}, `${room.participant_count} in the room`), " · ",
      h("span", {}, `${room.speaker_count} on stage`), " · ",
      h("span", {}, `${listeners} listening`)),
    room.topics?.length ? h("ul", { class: "chips" }, room.topics.map((t) => h("li", { class: "chip" }, t.name))) : null,
  ];
  if (closed) {
    return h("article", { class: "card room-card is-full", dataset: { roomId: room.id } },
      ...body,
      h("p", { class: "actions" }, h("button", { type: "button", disabled: true, class: "secondary" }, "Room full")));
  }
  return h("a", { class: "card link room-card", href: `/rooms/${room.id}/`, dataset: { roomId: room.id } }, ...body);
}

export function eventCard(event) {
  return h("article", { class: "card event-card", dataset: { eventId: event.id } },
    h("p", { class: "small" }, h("time", { datetime: event.starts_at }, when(event.starts_at, { weekday: "short", month: "short", day: "numeric", hour: "numeric", minute: "2-digit" })),
      event.club ? [" · ", h("a", { href: `/clubs/${event.club.slug}/` }, event.club.name)] : null),
    h("h3", {}, h("a", { href: `/events/${event.id}/` }, event.title)),
    h("p", { class: "small" }, "Hosted by ", event.hosts.map((host, i) => [i ? ", " : "", userLink(host)]),
      ` · ${event.rsvp_count} going`, event.going ? " · ✓ you're going" : ""));
}

export function personRow(user, ...actions) {
  return h("li", {},
    avatar(user),
    h("div", { class: "grow" },
      h("a", { href: `/u/${encodeURIComponent(user.username)}/`, class: "person-name" }, user.display_name || user.name || user.username),
      h("div", { class: "small" }, `@${user.username}`)),
    ...actions);
}
