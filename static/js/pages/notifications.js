// Notifications: newest first, unread highlighted; opening one marks it read.
import { api } from "../api.js";
import { avatar, fill, h, money, reportError, timeAgo, when } from "../ui.js";

const list = document.querySelector("[data-notifications-list]");
const more = document.querySelector("[data-more]");
let filter = "";
let offset = 0;
const PAGE = 30;

const CLUB_EVENTS = { joined: "you are a member now", role_changed: "your role changed", request_approved: "your request was approved", request_rejected: "your request was declined" };

function describe(n) {
  const who = n.actor ? (n.actor.display_name || n.actor.username) : "Someone";
  const d = n.data || {};
  const room = d.room_id ? `/rooms/${d.room_id}/` : null;
  switch (n.kind) {
    case "followed": return [`${who} followed you.`, n.actor && `/u/${n.actor.username}/`];
    case "invitation_accepted": return [`${who} accepted your invitation. Say hello!`, n.actor && `/u/${n.actor.username}/`];
    case "waitlist_vouch": return [`@${d.username || who} is on the waitlist and knows you.`, "/waitlist/"];
    case "let_in": return ["You're in! Welcome to Clubhouse.", "/welcome/"];
    case "room_invite": return [`${who} invited you to “${d.title || "a room"}”.`, room];
    case "room_ping": return [`${who} pinged you into “${d.title || "a room"}”.`, room];
    case "room_started": return [`${who} started a room: “${d.title || "join them"}”.`, room];
    case "speaker_invite": return [`${who} invited you to speak in “${d.title || "a room"}”.`, room];
    case "event_cohost": return [cohostText(who, d), d.event_id && `/events/${d.event_id}/`];
    case "event_reminder": return [reminderText(who, d), d.event_id && `/events/${d.event_id}/`];
    case "club": return [`Club ${d.club_slug || ""}: ${CLUB_EVENTS[d.event] || String(d.event || "news").replaceAll("_", " ")}${n.actor ? ` (${who})` : ""}.`, d.club_slug && `/clubs/${d.club_slug}/`];
    case "money":
      // A tip you sent that was processing (no answer from the bank in time) has settled.
      if (d.event === "tip_succeeded") return [`Your tip of ${money(d.amount, d.currency)} to ${who} went through.`, n.actor && `/u/${n.actor.username}/`];
      if (d.event === "tip_failed") return [`Your tip of ${money(d.amount, d.currency)} to ${who} did not go through. Nothing was charged.`, n.actor && `/u/${n.actor.username}/`];
      // A ticket payment that was processing has settled.
      if (d.event === "ticket_paid") return [`Your ticket for “${d.title || "the event"}” is confirmed (${money(d.amount, d.currency)}).`, ticketLink(d)];
      if (d.event === "ticket_failed") return [`Your ticket payment for “${d.title || "the event"}” did not go through. Nothing was charged.`, ticketLink(d)];
      if (d.event === "creator_approved") return [creatorApprovedText(d), "/wallet/"];
      if (d.event === "creator_rejected") return [`Your creator program application was not approved this time.${d.reason ? ` Why: ${d.reason}` : ""} You can apply again later.`, "/creator/apply/"];
      if (d.event === "creator_terms_changed") return [CREATOR_CHANGES[d.change] || "Your creator program terms changed.", "/creator/apply/"];
      if (d.event === "stipend_paid") return [`Your ${d.month} creator stipend of ${money(d.amount, d.currency)} is in your balance.`, "/wallet/"];
      // Staff only: a stipend run ended with rows that need them.
      if (d.event === "stipend_run_failures") return [`Stipends ${d.month}: ${d.failed} failed, ${d.unknown} with an unknown outcome. Review and retry in the back office.`, d.url];
      return [`${who} sent you ${money(d.amount, d.currency)}.`, "/wallet/"];
    case "feedback_reply": return [`About your feedback on ${d.feature_name || "a beta feature"}: ${d.message || ""}`, null];
    default: return [n.kind.replaceAll("_", " "), null];
  }
}

function ticketLink(d) {
  if (d.event_id) return `/events/${d.event_id}/`;
  return d.room_id ? `/rooms/${d.room_id}/` : null;
}

function creatorApprovedText(d) {
  const stipend = d.stipend_amount > 0 && d.stipend_start_month
    ? ` Your stipend of ${money(d.stipend_amount, d.stipend_currency)} a month runs from ${d.stipend_start_month} ${d.stipend_end_month ? `to ${d.stipend_end_month}` : "until further notice"}; connect your payout account in your wallet to receive it.`
    : "";
  return `You're in the creator program!${d.send_money ? " Send Money is on for you once your payout account is connected." : ""}${stipend}`;
}

// Staff's changes to a creator's program (payouts/services/programs.py); each from next month.
const CREATOR_CHANGES = {
  terms_changed: "Your creator program terms changed. See your creator page for the new terms.",
  stipend_paused: "Your creator stipend is paused from next month.",
  stipend_resumed: "Your creator stipend resumes next month.",
  stipend_ended: "Your creator stipend ends after this month.",
};

// An event_reminder is either "starting soon" or, with action "rescheduled", a host moved an
// event you RSVP'd to (rooms.schedule_services.event_update).
function reminderText(who, d) {
  const title = `“${d.title || "An event"}”`;
  if (d.action !== "rescheduled") return `${title} is starting.`;
  const at = d.starts_at ? when(d.starts_at, { dateStyle: "full", timeStyle: "short" }) : "another time";
  return `${who} moved ${title} to ${at}.`;
}

const COHOST_DONE = { accepted: "accepted to co-host", declined: "declined to co-host" };

function cohostText(who, d) {
  const title = `“${d.title || "an event"}”`;
  if (d.action === "invited") return `${who} asked you to co-host ${title}.`;
  return `${who} ${COHOST_DONE[d.action] || "answered about co-hosting"} ${title}.`;
}

// A co-host invitation is answered right here: you are a host only once you accept.
function cohostActions(n) {
  const d = n.data || {};
  if (n.kind !== "event_cohost" || d.action !== "invited" || !d.invite_id) return null;
  const box = h("div", { class: "row", dataset: { cohostInvite: String(d.invite_id) } });
  const answer = (verb) => async () => {
    box.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    try {
      await api(`events/cohost-invites/${d.invite_id}/${verb}/`, { method: "POST" });
      if (!n.read) await api(`notifications/${n.id}/read/`, { method: "POST" }).catch(() => null);
      fill(box, h("span", { class: "small" }, verb === "accept" ? "You are a co-host." : "You declined."));
      document.dispatchEvent(new Event("notifications:changed"));
    } catch (error) {
      box.querySelectorAll("button").forEach((b) => { b.disabled = false; });
      reportError(error);
    }
  };
  box.append(
    h("button", { type: "button", onclick: answer("accept") }, "Accept"),
    h("button", { type: "button", class: "secondary", onclick: answer("decline") }, "Decline"),
  );
  return box;
}

function row(n) {
  const [text, href] = describe(n);
  const open = async (event) => {
    if (!n.read) {
      event?.preventDefault();
      await api(`notifications/${n.id}/read/`, { method: "POST" }).catch(() => null);
      document.dispatchEvent(new Event("notifications:changed"));
      if (href) location.assign(href); else load(true);
    }
  };
  const body = href ? h("a", { href, onclick: open }, text) : h("span", {}, text);
  return h("li", { class: n.read ? "" : "unread", dataset: { kind: n.kind } },
    n.actor ? avatar(n.actor, "sm") : h("span", { class: "avatar sm initials", "aria-hidden": "true" }, "C"),
    h("div", { class: "grow" }, n.read ? null : h("span", { class: "visually-hidden" }, "Unread: "), body,
      h("div", { class: "small" }, h("time", { datetime: n.created }, timeAgo(n.created))), cohostActions(n)),
    n.read ? null : h("button", { type: "button", class: "secondary", onclick: open, "aria-label": `Mark as read: ${text}` }, "Mark read"));
}

async function load(reset = false) {
  if (reset) offset = 0;
  try {
    const page = await api("notifications/", { query: { limit: PAGE, offset, unread: filter } });
    const rows = page.results.map(row);
    if (offset === 0) fill(list, rows.length ? rows : h("li", { class: "muted" }, filter ? "Nothing unread." : "No notifications yet."));
    else list.append(...rows);
    offset += page.results.length;
    more.hidden = !page.next;
  } catch (error) { reportError(error); }
}

document.querySelector("[data-read-all]").addEventListener("click", async () => {
  try {
    await api("notifications/read-all/", { method: "POST" });
    document.dispatchEvent(new Event("notifications:changed"));
    load(true);
  } catch (error) { reportError(error); }
});
document.querySelectorAll("[data-filter]").forEach((tab) => tab.addEventListener("click", () => {
  document.querySelectorAll("[data-filter]").forEach((t) => t.setAttribute("aria-selected", String(t === tab)));
  filter = tab.dataset.filter;
  load(true);
}));
more.querySelector("button").addEventListener("click", () => load());
// A notification pushed over the socket (shell.js) appears at the top of the first page.
document.addEventListener("notifications:pushed", (event) => {
  if (event.detail && event.detail.notification && offset <= PAGE) load(true);
});
load(true);
