// A club: about, follow / join / request / leave, events, members; managers start rooms,
// schedule events and decide on requests.
import { api } from "../api.js";
import { eventCard, personRow } from "../cards.js";
import { renderMembership } from "../club_membership.js";
import { markEventPrices } from "../tickets.js";
import { busy, confirmDialog, empty, fill, h, openDialog, reportError, toast } from "../ui.js";

const root = document.querySelector("[data-club]");
const slug = root.dataset.club;
const base = `clubs/${encodeURIComponent(slug)}`;
const $ = (sel) => root.querySelector(sel);
let membersOffset = 0;

function action(label, work, cls = "") {
  const button = h("button", { type: "button", class: cls }, label);
  button.addEventListener("click", () => busy(button, async () => {
    try { await work(); await load(); } catch (error) { reportError(error); }
  }));
  return button;
}

function render(club) {
  document.title = `${club.name} · Clubhouse`;
  root.removeAttribute("aria-busy");
  $("[data-club-name]").textContent = club.name + (club.is_verified ? " (verified)" : "");
  fill($("[data-club-photo]"), club.photo
    ? h("img", { class: "avatar lg", src: club.photo, alt: "" })
    : h("span", { class: "avatar lg initials", "aria-hidden": "true" }, club.name.charAt(0).toUpperCase()));
  const policy = { open: "Anyone can join", request: "Join by request", nomination: "Join by nomination" }[club.join_policy];
  $("[data-club-meta]").textContent = `${club.member_count} member${club.member_count === 1 ? "" : "s"} · ${policy}${club.viewer.role ? ` · you are ${club.viewer.role === "admin" ? "an admin" : `a ${club.viewer.role}`}` : ""}`;
  $("[data-club-description]").textContent = club.description;
  fill($("[data-club-topics]"), club.topics.map((t) => h("li", { class: "chip" }, t)));
  const rules = $("[data-club-rules]");
  rules.hidden = !club.rules;
  rules.querySelector("p").textContent = club.rules;

  const v = club.viewer;
  const buttons = [];
  if (!v.role) {
    if (club.join_policy === "open") buttons.push(action("Join", () => api(`${base}/join/`, { method: "POST" }).then(() => toast(`Welcome to ${club.name}!`))));
    if (club.join_policy === "request") buttons.push(action("Ask to join", () => requestToJoin(club)));
    if (club.join_policy === "nomination") buttons.push(h("span", { class: "small" }, "Members nominate new members."));
  }
  if (club.follow_policy === "anyone" && !v.role) {
    buttons.push(v.following
      ? action("Following ✓", () => api(`${base}/follow/`, { method: "DELETE" }), "secondary")
      : action("Follow", () => api(`${base}/follow/`, { method: "POST" }), "secondary"));
  }
  if (v.can_start_room) buttons.push(h("a", { class: "button", href: `/rooms/new/?club=${encodeURIComponent(slug)}` }, "Start a room"));
  if (v.can_schedule_event) buttons.push(h("a", { class: "button secondary", href: `/events/?new=1&club=${club.id}` }, "Schedule an event"));
  if (v.role && club.join_policy === "nomination") buttons.push(action("Nominate someone", () => nominate(), "secondary"));
  if (v.role) buttons.push(action("Leave", async () => {
    if (await confirmDialog({ title: `Leave ${club.name}?`, message: "You can ask to join again later.", confirm: "Leave", danger: true })) {
      await api(`${base}/leave/`, { method: "POST" });
    }
  }, "secondary"));
  fill($("[data-club-actions]"), buttons);
  return club;
}

function requestToJoin(club) {
  return new Promise((resolve) => {
    const form = h("form", {}, h("label", { for: "req-msg" }, `Why do you want to join ${club.name}? (optional)`),
      h("textarea", { id: "req-msg", name: "message", maxlength: "500" }),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Send request")));
    const dialog = openDialog({ title: "Ask to join", body: form, onClose: resolve });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await api(`${base}/requests/`, { method: "POST", body: { message: form.message.value } });
        toast("Request sent. An admin or leader will decide.");
        dialog.close();
      } catch (error) { reportError(error, form); }
    });
  });
}

function nominate() {
  return new Promise((resolve) => {
    const form = h("form", { novalidate: true }, h("div", { class: "form-error", "data-form-error": true, hidden: true, role: "alert" }),
      h("label", { for: "nom-user" }, "Username"), h("input", { id: "nom-user", name: "username", type: "text" }),
      h("label", { for: "nom-note" }, "A note for the admins (optional)"), h("textarea", { id: "nom-note", name: "note", maxlength: "500" }),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Nominate")));
    const dialog = openDialog({ title: "Nominate someone", body: form, onClose: resolve });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const person = await api(`users/${encodeURIComponent(form.username.value.trim().replace(/^@/, ""))}/`);
        await api(`${base}/nominations/`, { method: "POST", body: { user: person.id, note: form.note.value } });
        toast(`@${person.username} is nominated.`);
        dialog.close();
      } catch (error) { reportError(error, form); }
    });
  });
}

async function loadMembers(reset) {
  if (reset) membersOffset = 0;
  const list = $("[data-club-members]");
  try {
    const page = await api(`${base}/members/`, { query: { limit: 50, offset: membersOffset } });
    const rows = page.results.map((m) => personRow(m.user, m.role !== "member" ? h("span", { class: "pill soft" }, m.role) : null));
    if (membersOffset === 0) fill(list, rows.length ? rows : h("li", { class: "muted" }, "No members yet."));
    else list.append(...rows);
    membersOffset += page.results.length;
    $("[data-more]").hidden = !page.next;
  } catch (error) {
    fill(list, h("li", { class: "muted" }, error.message));
  }
}

async function loadRequests(club) {
  const box = $("[data-club-requests-box]");
  if (!["admin", "leader"].includes(club.viewer.role)) { box.hidden = true; return; }
  const page = await api(`${base}/requests/`, { query: { limit: 50 } });
  box.hidden = !page.results.length;
  fill($("[data-club-requests]"), page.results.map((r) => personRow(r.user,
    r.message ? h("span", { class: "small" }, `“${r.message}”`) : null,
    action("Approve", () => api(`${base}/requests/${r.id}/approve/`, { method: "POST" })),
    action("Decline", () => api(`${base}/requests/${r.id}/reject/`, { method: "POST" }), "secondary"))));
}

async function loadNominations(club) {
  const box = $("[data-club-nominations-box]");
  if (!club.viewer.role) { box.hidden = true; return; }
  const page = await api(`${base}/nominations/`, { query: { limit: 50 } });
  const admin = club.viewer.role === "admin";
  box.hidden = !page.results.length;
  fill($("[data-club-nominations]"), page.results.map((n) => personRow(n.nominee,
    h("span", { class: "small" }, admin && n.nominated_by ? `nominated by @${n.nominated_by.username}` : n.status),
    admin && n.status === "pending" ? [
      action("Approve", () => api(`${base}/nominations/${n.id}/approve/`, { method: "POST" })),
      action("Reject", () => api(`${base}/nominations/${n.id}/reject/`, { method: "POST" }), "secondary"),
    ] : null,
    !admin && n.status === "pending" ? action("Withdraw", () => api(`${base}/nominations/${n.id}/withdraw/`, { method: "POST" }), "secondary") : null)));
}

async function loadEvents() {
  const page = await api("events/", { query: { club: slug, limit: 10 } });
  fill($("[data-club-events]"), page.results.length ? page.results.map(eventCard) : empty("No events scheduled."));
  markEventPrices($("[data-club-events]"));
}

async function load() {
  try {
    const club = render(await api(`${base}/`));
    await Promise.all([renderMembership(club, $("[data-club-plan]"), load).catch(reportError), loadMembers(true), loadRequests(club).catch(reportError), loadNominations(club).catch(reportError), loadEvents().catch(reportError)]);
  } catch (error) {
    $("[data-club-name]").textContent = error.status === 404 ? "No such club" : "Could not load this club";
    reportError(error);
  }
}

$("[data-more] button").addEventListener("click", () => loadMembers(false));
load();
