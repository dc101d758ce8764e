// The event form's options, shared by "Schedule an event" (events.js) and "Edit or reschedule"
// (event.js): capacity, the type its room opens as, members-only (club events), co-hosts.
// Co-hosts are typed as @usernames; the API wants ids, so each is looked up first.
import { api, ApiError } from "./api.js";
import { h } from "./ui.js";

export const ROOM_TYPES = [
  ["open", "Open: anyone can come in"],
  ["social", "Social: people followed by a speaker"],
  ["closed", "Closed: only the people invited (hosts and RSVPs are)"],
];

function pad(n) { return String(n).padStart(2, "0"); }
/** A Date as a <input type="datetime-local"> value, in the browser's time zone. */
export function localInputValue(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** The "starts at" value as ISO 8601 (UTC), or "" so the API names the field. */
export function startsAtValue(form) {
  const raw = form.elements.starts_at.value;
  const date = raw ? new Date(raw) : null;
  return date && !Number.isNaN(date.getTime()) ? date.toISOString() : "";
}

/** Inputs for the options; `event` (when editing) gives their current values. */
export function optionFields({ event = null, cohosts = [], clubChosen = false } = {}) {
  const capacity = event?.capacity ?? "";
  const roomType = event?.room_type || "open";
  return [
    h("label", { for: "ev-capacity" }, "Capacity (optional)"),
    h("input", { id: "ev-capacity", name: "capacity", type: "number", min: "1", step: "1", inputmode: "numeric", value: capacity, "aria-describedby": "ev-capacity-help" }),
    h("p", { class: "small muted", id: "ev-capacity-help" }, "RSVPs stop at this number, and the event's room holds them and the hosts. Empty: no limit."),
    h("label", { for: "ev-room-type" }, "The event's room"),
    h("select", { id: "ev-room-type", name: "room_type" },
      ROOM_TYPES.map(([value, label]) => h("option", { value, selected: value === roomType }, label))),
    h("div", { "data-members-only-box": true, hidden: !clubChosen },
      h("label", {}, h("input", { type: "checkbox", name: "members_only", checked: Boolean(event?.members_only) }), " Members only: only the club's members can RSVP and come in")),
    h("label", { for: "ev-cohosts" }, "Co-hosts (optional)"),
    h("input", { id: "ev-cohosts", name: "host_ids", type: "text", autocomplete: "off", placeholder: "@ada, @grace", value: cohosts.map((u) => `@${u.username}`).join(", "), "aria-describedby": "ev-cohosts-help" }),
    h("p", { class: "small muted", id: "ev-cohosts-help" }, "Each is asked and becomes a co-host on accepting; co-hosts moderate the room."),
  ];
}

/** The usernames typed in the co-hosts field, without "@", duplicates or blanks. */
function usernamesOf(form) {
  const names = form.elements.host_ids.value.split(/[\s,]+/).map((n) => n.replace(/^@/, "").trim()).filter(Boolean);
  return [...new Set(names)];
}

/** The ids of the typed co-hosts; an unknown name is an error on the field. */
export async function cohostIds(form) {
  const ids = [];
  for (const username of usernamesOf(form)) {
    try {
      ids.push((await api(`users/${encodeURIComponent(username)}/`)).id);
    } catch (error) {
      if (error.status !== 404) throw error;
      throw new ApiError({ status: 404, code: "unknown_user", message: `No member is called @${username}.`, fields: { host_ids: [`No member is called @${username}.`] } });
    }
  }
  return ids;
}

/** The options as the API takes them. */
export async function optionsBody(form) {
  const capacity = form.elements.capacity.value.trim();
  return {
    capacity: capacity === "" ? null : Number(capacity),
    room_type: form.elements.room_type.value,
    members_only: form.elements.members_only.checked,
    host_ids: await cohostIds(form),
  };
}
