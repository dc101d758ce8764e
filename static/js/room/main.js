// The live room page: wires the socket, the room state, the audio link and the DOM.
import { micRequest } from "./mic.js";
import { AudioLink } from "./rtc.js";
import { RoomSocket } from "./socket.js";
import { RoomState } from "./state.js";
import { api, clearFormErrors, showFormErrors } from "../api.js";
import { openBuyTicket, openTicketPrice, ticketQuote } from "../tickets.js";
import { avatar, h, money, toast } from "../ui.js";
import { Announcer, renderKeyed } from "./view.js";

const root = document.getElementById("room");
const $ = (id) => document.getElementById(id);

const roomId = Number(root.dataset.roomId);
const meId = Number(root.dataset.meId);
const slots = Number(root.dataset.listenerSlots) || 3;

const state = new RoomState(meId);
const announcer = new Announcer($("room-announcer"));
const toasts = { show: (message, opts = {}) => toast(message, opts) };

// Messages for refusals, in the words of the page (the server's message is the fallback).
const GONE_TEXT = {
  room_ended: ["This room has ended", "The conversation is over. Find another one in the hallway."],
  removed_from_room: ["You were removed", "A moderator removed you from this room."],
  club_access_lost: ["Members only", "You no longer have access to this club's rooms."],
  room_not_found: ["Room not found", "This room does not exist, or you cannot see it."],
  room_full: ["Room full", "Every seat in this room is taken. You can join when someone leaves."],
  room_busy: ["This room is very busy", "Too many people are arriving at once. Try again in a minute."],
  ticket_required: ["A ticket is required", "This room is ticketed. Buy a ticket to listen."],
  closed_room_invite_only: ["Invitation only", "This is a closed room: a moderator has to invite you."],
  social_room_not_followed: ["Social room", "Only people followed by someone on stage can join."],
  club_members_only: ["Members only", "This room is for the club's members."],
  club_premium_required: ["Premium members only", "This room is for the club's premium members. Subscribe on the club's page to join."],
  blocked_by_moderator: ["You can't join this room", "A moderator of this room blocked you."],
  ticket_refunded: ["Your ticket was refunded", "You left the room. Buy a ticket to listen again."],
  not_authenticated: ["Please log in", "Your session has ended. Log in again to join the room."],
  waitlisted: ["You're on the waitlist", "You can join rooms once your account is let in."],
  account_disabled: ["Account disabled", "This account cannot join rooms."],
};

const socket = new RoomSocket({
  roomId,
  onSnapshot,
  onEvent,
  onPush,
  onStatus,
});

const audio = new AudioLink({
  socket,
  slots,
  sink: $("audio-sink"),
  fetchIceServers: () => api("rtc/ice-servers/"),
  onState: onAudioState,
});
let listening = false;
let audienceLoadedMore = false;
let audienceRefreshTimer = null;

// Exposed for the browser tests and for debugging from the console.
window.clubhouseRoom = { state, socket, audio };

// --- socket callbacks ----------------------------------------------------------------------

function onSnapshot(snapshot, why) {
  const wasOnStage = state.onStage;
  state.applySnapshot(snapshot);
  audienceLoadedMore = false;
  render();
  if (state.ended) return leaveWith("room_ended");
  if (why === "rejoin") {
    announcer.say(["Reconnected."]);
    document.dispatchEvent(new Event("notifications:changed")); // the badge missed the gap
    // The relay may have lost us meanwhile (or we it): a fresh offer is cheap and certain.
    if (listening) audio.renegotiate();
  }
  if (wasOnStage !== state.onStage) stageChanged(wasOnStage);
  if (state.you.speaker_invited && !state.onStage) showInvite(null);
}

function onEvent(event) {
  const wasOnStage = state.onStage;
  const wasModerator = state.isModerator;
  const wasMuted = state.you.muted;
  const said = state.applyEvent(event);
  announcer.say(said);
  render();
  if (state.ended) return leaveWith("room_ended");
  if (state.gone) return leaveWith(state.gone.code);
  if (wasOnStage !== state.onStage) stageChanged(wasOnStage);
  if (!wasModerator && state.isModerator) {
    // A new moderator sees everyone's raised hands only in a fresh snapshot.
    socket.request("room.snapshot").then((s) => onSnapshot(s, "resync"), showError);
  }
  if (state.you.muted && !wasMuted) audio.setMicEnabled(false);
}

function onPush(push) {
  switch (push.type) {
    case "room.speaking":
      state.applyPush(push);
      renderSpeaking();
      return;
    case "rtc.renegotiate": {
      // stage_changed usually crosses our own re-offer (we saw the same room event): re-offer
      // only if the connection is not already right, and never while the mic dialog is open
      // (its outcome makes the offer). relay_moved always needs a new connection.
      const reason = (push.data || {}).reason;
      if (!listening || micPending) return;
      audio.setPublishing(state.onStage);
      if (reason === "stage_changed" && audio.matches(audio.publishing)) return;
      audio.renegotiate();
      return;
    }
    case "rtc.closed": {
      const reason = (push.data || {}).reason;
      // Only a failed connection is worth a new offer; "closed" is also what a replaced
      // connection reports, and re-offering on it would loop.
      if (reason === "removed" || reason === "room_ended") audio.stop();
      else if (reason === "failed" && listening) audio.renegotiate();
      return;
    }
    case "room.speaker_invited":
      announcer.say(state.applyPush(push));
      showInvite(push.data.by);
      return;
    case "room.pinged":
      showPing(push);
      return;
    case "client.error":
      showError(push.error);
      return;
    case "notification.created":
    case "notification.read":
      // The page shell owns the badge (static/js/shell.js).
      document.dispatchEvent(new CustomEvent("notifications:event", { detail: push }));
      return;
    default:
      break;
  }
  const said = state.applyPush(push);
  if (push.type === "room.speaker_invite_declined") toasts.show(said.join(" "));
  announcer.say(said);
  if (state.gone) return leaveWith(state.gone.code);
  if (push.type === "room.audience_count") scheduleAudienceRefresh();
  render();
}

function onStatus(status, detail) {
  root.dataset.state = status;
  const conn = $("room-conn");
  if (status === "connecting") conn.textContent = "Connecting…";
  else if (status === "joining") conn.textContent = "Joining… the room is busy, trying again.";
  else if (status === "live") conn.textContent = "Live";
  else if (status === "reconnecting") conn.textContent = "Connection lost. Reconnecting…";
  else if (status === "refused" || status === "gone") leaveWith(detail && detail.code, detail);
}

function onAudioState(status, detail) {
  root.dataset.audio = status;
  const text = $("audio-state");
  if (status === "connecting") text.textContent = "Connecting audio…";
  else if (status === "connected") text.textContent = "You're listening.";
  else if (status === "stalled") {
    text.textContent =
      "We can't connect your audio. Your network may be blocking it: try another Wi-Fi or " +
      "mobile data, turn off a VPN, or ask your network admin to allow WebRTC calls. Still trying…";
  } else if (status === "retrying") {
    const why = detail && detail.error && detail.error.message;
    text.textContent = why ? `No audio yet: ${why} Retrying…` : "Audio connection lost. Retrying…";
  }
  else if (status === "error") {
    text.textContent = "Audio is unavailable.";
    showError(detail);
  } else if (status === "closed") text.textContent = "";
  render();
}

// --- stage transitions ---------------------------------------------------------------------

async function stageChanged(wasOnStage) {
  if (state.onStage && !wasOnStage) {
    // On stage, muted. Ask for the mic now (explained first) so unmuting later is one click.
    if (!audio.micTrack) await openMic();
  } else if (!state.onStage && wasOnStage) {
    audio.releaseMic();
    if (listening) audio.renegotiate();
  }
  render();
}

let micPending = false;

async function openMic() {
  micPending = true;
  try {
    const { track } = await micRequest($("mic-dialog"));
    track.enabled = state.you.muted === false;
    audio.setMic(track);
    if (!state.onStage) {
      audio.releaseMic();
      return false;
    }
    audio.setPublishing(true);
    if (!listening) startListening();
    else audio.renegotiate();
    return true;
  } catch (err) {
    toasts.show(err.message);
    // No microphone: do not show the room an unmuted speaker who cannot be heard.
    if (state.onStage && state.you.muted === false) {
      socket.action("room.self_mute").catch(() => {});
    }
    return false;
  } finally {
    micPending = false;
  }
}

function startListening() {
  listening = true;
  $("listen-gate").classList.add("listening");
  $("listen-btn").hidden = true;
  audio.start({ publish: state.onStage });
}

async function toggleMic() {
  const muted = state.you.muted !== false;
  if (muted) {
    if (!audio.micTrack && !(await openMic())) return;
    try {
      await socket.action("room.self_unmute");
      state.you.muted = false;
      audio.setMicEnabled(true);
    } catch (err) {
      showError(err);
    }
  } else {
    // Silence locally at once, then tell the room (and so the relay) to stop forwarding.
    audio.setMicEnabled(false);
    try {
      await socket.action("room.self_mute");
      state.you.muted = true;
    } catch (err) {
      showError(err);
    }
  }
  render();
}

// --- leaving -------------------------------------------------------------------------------

function leaveWith(code, err) {
  audio.stop();
  audio.releaseMic();
  socket.stop();
  const [title, text] = GONE_TEXT[code] || [
    "You can't be in this room",
    (err && err.message) || "Something went wrong.",
  ];
  root.dataset.state = code === "room_ended" ? "ended" : "gone";
  $("room-gone-title").textContent = title;
  $("room-gone-text").textContent = err && err.message && !GONE_TEXT[code] ? err.message : text;
  if (code === "not_authenticated") {
    const login = h("a", { href: `/accounts/login/?next=${encodeURIComponent(location.pathname)}` }, "Log in");
    $("room-gone-text").append(" ", login);
  }
  if (code === "ticket_required") offerTicket(err);
  if (code === "room_full") waitForSeat();
  if ((code === "club_premium_required" || code === "club_members_only") && root.dataset.club) {
    $("room-gone-text").append(" ", h("a", { href: `/clubs/${encodeURIComponent(root.dataset.club)}/` }, "Go to the club"));
  }
  $("room-gone").hidden = false;
  $("listen-gate").hidden = true;
  for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
  $("room-conn").textContent = code === "room_ended" ? "Ended" : "Not connected";
  announcer.say([title]);
  render();
}

// --- rendering -----------------------------------------------------------------------------

function render() {
  const room = state.room;
  if (room) {
    $("room-title").textContent = room.title;
    document.title = `${room.title} · Clubhouse`;
    const kicker = [];
    if (room.club) kicker.push(room.club.name);
    for (const t of room.topics || []) kicker.push(t.name);
    $("room-kicker").textContent = kicker.join(" · ");
  }
  const active = !state.ended && !state.gone;
  root.dataset.role = state.you.role || "none";

  renderStage(active);
  renderHands(active);
  renderAudience(active);

  const policyOff = room && room.hand_raise_policy === "off";
  const hand = $("hand-btn");
  hand.hidden = !active || state.onStage || policyOff || state.you.role === null;
  hand.textContent = state.you.hand_raised ? "Lower hand" : "Raise hand";
  hand.setAttribute("aria-pressed", String(!!state.you.hand_raised));

  const mic = $("mic-btn");
  mic.hidden = !active || !state.onStage;
  const muted = state.you.muted !== false;
  mic.textContent = muted ? "Unmute" : "Mute";
  mic.setAttribute("aria-pressed", String(!muted));
  mic.setAttribute("aria-label", muted ? "Unmute your microphone" : "Mute your microphone");
  // With a mic but no connection carrying it yet, unmuting would be heard by nobody.
  const micConnecting = !!audio.micTrack && !(audio.micAccepted && root.dataset.audio === "connected");
  mic.disabled = muted && micConnecting;
  mic.title = mic.disabled ? "Connecting your microphone…" : "";

  $("stage-leave-btn").hidden = !active || !state.onStage;
  $("end-btn").hidden = !active || !state.isModerator;
  $("ping-btn").hidden = !active;
  $("leave-btn").hidden = !active;
  $("share-btn").hidden = !room;
  $("price-btn").hidden = !active || !room || room.created_by !== meId;
  $("room-full-badge").hidden = !active || !state.full;
  renderPinned(active);
}

// --- the pinned link -----------------------------------------------------------------------

function renderPinned(active) {
  const link = active ? state.pinnedLink : null;
  $("pinned").hidden = !link;
  $("pin-btn").hidden = !active || !state.isModerator;
  $("pin-btn").textContent = link ? "Change pinned link" : "Pin a link";
  $("unpin-btn").hidden = !active || !state.isModerator || !link;
  if (!link) return;
  const a = $("pinned-link");
  // Only http(s) links are ever accepted by the server; checked again here before it becomes
  // an href, so a link that is anything else is shown as text and never followed.
  let url = null;
  try {
    url = new URL(link.url);
  } catch (_err) {
    url = null;
  }
  const safe = url && (url.protocol === "https:" || url.protocol === "http:");
  if (safe) a.setAttribute("href", url.href);
  else a.removeAttribute("href");
  a.textContent = link.title || link.url;
  $("pinned-host").textContent = safe && link.title ? `(${url.host})` : "";
}

function openPinDialog() {
  $("room-menu").open = false;
  const form = $("pin-form");
  clearFormErrors(form);
  const link = state.pinnedLink;
  $("pin-url").value = link ? link.url : "";
  $("pin-title").value = link ? link.title : "";
  $("pin-dialog").showModal();
  $("pin-url").focus();
}

async function savePin(ev) {
  ev.preventDefault();
  const form = $("pin-form");
  clearFormErrors(form);
  const button = $("pin-save");
  button.disabled = true;
  try {
    const reply = await socket.action("room.pinned_link_set", {
      url: $("pin-url").value.trim(),
      title: $("pin-title").value,
    });
    if (state.room) state.room.pinned_link = reply.pinned_link;
    $("pin-dialog").close();
    render();
  } catch (err) {
    if (!showFormErrors(form, err)) showError(err);
  } finally {
    button.disabled = false;
  }
}

async function unpin() {
  $("room-menu").open = false;
  if (!(await confirmDialog("Remove the pinned link for everyone?", "Remove link"))) return;
  try {
    await socket.action("room.pinned_link_clear");
    if (state.room) state.room.pinned_link = null;
    render();
  } catch (err) {
    showError(err);
  }
}

// --- reporting the room ----------------------------------------------------------------------

function openReportDialog() {
  $("room-menu").open = false;
  const form = $("report-form");
  form.reset();
  clearFormErrors(form);
  $("report-dialog").showModal();
  $("report-reason").focus();
}

async function sendReport(ev) {
  ev.preventDefault();
  const form = $("report-form");
  clearFormErrors(form);
  const button = $("report-send");
  button.disabled = true;
  try {
    // The reasons and their rules are the API's: an empty choice is refused there, by field.
    await api(`rooms/${roomId}/report/`, {
      method: "POST",
      body: { reason: $("report-reason").value, text: $("report-text").value },
    });
    $("report-dialog").close();
    toasts.show("Thank you. The Clubhouse team will review this room.");
  } catch (err) {
    if (!showFormErrors(form, err)) showError(err);
  } finally {
    button.disabled = false;
  }
}

// --- a full room ---------------------------------------------------------------------------

/** Refused with `room_full`: the join button stays disabled, labelled "Room full", and the
 * page looks again now and then; once a seat is free the button joins. */
function waitForSeat() {
  $("room-full-retry").hidden = false;
  const button = $("join-btn");
  button.disabled = true;
  button.textContent = "Room full";
  clearInterval(waitForSeat.timer);
  waitForSeat.timer = setInterval(async () => {
    if (document.hidden) return;
    try {
      const snapshot = await api(`rooms/${roomId}/`);
      if (snapshot.full) return;
      clearInterval(waitForSeat.timer);
      button.disabled = false;
      button.textContent = "Join";
      announcer.say(["A seat is free. You can join now."]);
    } catch (_err) {
      // still refused (or offline): keep waiting
    }
  }, 10000);
}

// --- tickets -------------------------------------------------------------------------------

/** The ticket-required screen: the price (from the refusal's fields) and "Buy ticket"; once
 * the ticket is paid the page loads again and joins. A room started from a priced event is
 * entered with the event's ticket. */
function offerTicket(err) {
  const fields = (err && err.fields) || {};
  const first = (name) => (fields[name] || [])[0];
  const kind = first("event_id") ? "events" : "rooms";
  const id = first("event_id") || roomId;
  document.querySelector("[data-ticket-offer]")?.remove();
  const box = h("div", { class: "actions centered", "data-ticket-offer": true });
  if (first("amount")) box.append(h("p", { class: "price" }, "Ticket ", h("strong", { class: "money" }, money(Number(first("amount")), first("currency")))));
  const buy = h("button", { type: "button", class: "primary" }, "Buy ticket");
  buy.addEventListener("click", () => openBuyTicket({
    kind, id, title: $("room-title").textContent,
    onPaid: () => { toast("Ticket bought. Joining the room…"); setTimeout(() => location.reload(), 800); },
  }).catch(showError));
  box.append(buy);
  $("room-gone-text").after(box);
}

async function priceRoom() {
  try {
    const current = await ticketQuote("rooms", roomId);
    openTicketPrice({
      kind: "rooms", id: roomId, current,
      onSaved: (price) => toast(`New listeners need a ticket: ${money(price.amount, price.currency)}.`),
    });
  } catch (err) {
    showError(err);
  }
}

function personCard(entry) {
  const li = h("li", { class: "person" });
  li.dataset.userId = entry.user.id;
  li.append(
    h("span", { class: "ring" }, avatar(entry.user)),
    h("span", { class: "person-name" }),
    h("span", { class: "person-badges" }),
    h("details", { class: "tools" }, h("summary", {}, "⋯"), h("div", { class: "tools-menu" })),
  );
  const details = li.querySelector(".tools");
  details.addEventListener("toggle", () => {
    // A menu on the last row would open under the fixed control bar: open it upwards.
    if (!details.open) return;
    const menu = details.querySelector(".tools-menu");
    details.classList.remove("up");
    const bar = $("room-bar").getBoundingClientRect();
    if (menu.getBoundingClientRect().bottom > bar.top) details.classList.add("up");
  });
  return li;
}

function updateCard(li, entry, tools, badges) {
  const name = entry.user.id === meId ? `${entry.user.name} (you)` : entry.user.name;
  li.querySelector(".person-name").textContent = name;
  li.querySelector(".person-badges").replaceChildren(...badges.map((b) => h("span", { class: `room-badge ${b[0]}` }, b[1])));
  li.classList.toggle("is-muted", !!entry.muted);
  li.classList.toggle("is-moderator", entry.role === "moderator");
  const details = li.querySelector(".tools");
  const signature = tools.map((t) => t.type).join(",");
  if (details.dataset.signature !== signature) {
    details.dataset.signature = signature;
    details.hidden = tools.length === 0;
    details.open = false;
    details.querySelector("summary").setAttribute("aria-label", `Actions for ${entry.user.name}`);
    const menu = details.querySelector(".tools-menu");
    menu.replaceChildren(
      ...tools.map((t) =>
        h("button", { type: "button", "data-action": t.type, onclick: () => runTool(t, entry.user, details) }, t.label),
      ),
    );
  }
  const speaking = state.speaking.has(entry.user.id);
  li.classList.toggle("speaking", speaking);
  const label = [name, entry.role === "moderator" ? "moderator" : entry.role === "speaker" ? "speaker" : "listener"];
  if (entry.muted) label.push("muted");
  if (speaking) label.push("speaking");
  li.setAttribute("aria-label", label.join(", "));
}

function stageTools(entry) {
  if (!state.isModerator || entry.user.id === meId) return [];
  const tools = [];
  if (!entry.muted) tools.push({ type: "room.speaker_mute", label: "Mute" });
  if (entry.role === "speaker") {
    tools.push({ type: "room.speaker_move_to_audience", label: "Move to audience" });
    tools.push({ type: "room.moderator_add", label: "Make moderator" });
    tools.push({ type: "room.user_remove", label: "Remove from room", confirm: true });
  } else {
    tools.push({ type: "room.moderator_remove", label: "Remove as moderator" });
  }
  return tools;
}

function audienceTools(entry) {
  if (!state.isModerator || entry.user.id === meId) return [];
  return [
    { type: "room.speaker_invite", label: "Invite to speak" },
    { type: "room.user_remove", label: "Remove from room", confirm: true },
  ];
}

function renderStage() {
  const rows = [...state.stage.values()].sort((a, b) => (a.role === b.role ? 0 : a.role === "moderator" ? -1 : 1));
  renderKeyed($("stage"), rows, (r) => r.user.id, personCard, (li, row) => {
    const badges = [];
    if (row.role === "moderator") badges.push(["mod", "Moderator"]);
    if (row.muted) badges.push(["mute", "Muted"]);
    updateCard(li, row, stageTools(row), badges);
  });
}

function renderSpeaking() {
  for (const li of $("stage").children) {
    const id = Number(li.dataset.userId);
    const speaking = state.speaking.has(id);
    if (li.classList.contains("speaking") !== speaking) {
      const row = state.stage.get(id);
      if (row) updateCard(li, row, stageTools(row), badgesOf(row));
    }
  }
}

function badgesOf(row) {
  const badges = [];
  if (row.role === "moderator") badges.push(["mod", "Moderator"]);
  if (row.muted) badges.push(["mute", "Muted"]);
  return badges;
}

function renderHands(active) {
  const section = $("hands-section");
  section.hidden = !active || !state.isModerator;
  const policy = $("hand-policy");
  if (state.room && document.activeElement !== policy) policy.value = state.room.hand_raise_policy;
  $("hands-count").textContent = state.handsCount ? `(${state.handsCount})` : "";
  $("hands-empty").hidden = state.hands.length > 0;
  renderKeyed(
    $("hands"),
    state.hands,
    (hand) => hand.user.id,
    (hand) => {
      const li = h("li", { class: "queue-item" });
      li.dataset.userId = hand.user.id;
      li.append(
        avatar(hand.user, "sm"),
        h("span", { class: "person-name" }, hand.user.name),
        h("button", { type: "button", class: "primary", "data-action": "room.speaker_invite", onclick: () => runTool({ type: "room.speaker_invite" }, hand.user) }, "Invite to speak"),
        h("button", { type: "button", "data-action": "room.hand_lower", onclick: () => runTool({ type: "room.hand_lower" }, hand.user) }, "Lower hand"),
      );
      return li;
    },
    () => {},
  );
}

function renderAudience() {
  const count = state.audienceCount;
  $("audience-count").textContent = count ? `(${count})` : "";
  renderKeyed($("audience"), state.audience, (i) => i.user.id, personCard, (li, item) => {
    const badges = item.hand_raised ? [["hand", "Hand raised"]] : [];
    updateCard(li, { ...item, role: "listener" }, audienceTools(item), badges);
  });
  $("audience-more").hidden = !state.audienceCursor;
  $("audience-empty").hidden = state.audience.length > 0;
}

// --- actions -------------------------------------------------------------------------------

async function runTool(tool, user, details) {
  if (details) details.open = false;
  if (tool.confirm && !(await confirmDialog(`Remove ${user.name} from this room? They cannot come back.`, "Remove"))) return;
  try {
    await socket.action(tool.type, { user_id: user.id });
    if (tool.type === "room.speaker_invite") toasts.show(`Invited ${user.name} to speak.`);
    if (tool.type === "room.hand_lower") {
      state.hands = state.hands.filter((hnd) => hnd.user.id !== user.id);
      render();
    }
  } catch (err) {
    showError(err);
  }
}

function confirmDialog(text, okLabel) {
  const dialog = $("confirm-dialog");
  $("confirm-dialog-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

function showInvite(by) {
  const dialog = $("invite-dialog");
  if (dialog.open || state.ended || state.gone) return;
  $("invite-dialog-text").textContent = `${by ? by.name : "A moderator"} invites you onto the stage. You'll start muted.`;
  dialog.returnValue = "";
  dialog.showModal();
  dialog.addEventListener(
    "close",
    async () => {
      const accept = dialog.returnValue === "accept";
      try {
        await socket.action(accept ? "room.speaker_invite_accept" : "room.speaker_invite_decline");
        state.you.speaker_invited = false;
      } catch (err) {
        showError(err);
      }
    },
    { once: true },
  );
}

function showPing(push) {
  const d = push.data || {};
  const who = d.by ? d.by.name : "Someone";
  const verb = d.kind === "invite" ? "invites you to" : "pinged you to join";
  const content = [`${who} ${verb} “${d.title || "a room"}”. `];
  if (push.room_id !== roomId) content.push(h("a", { href: `/rooms/${push.room_id}/` }, "Join"));
  toasts.show(content, { timeout: 15000 });
}

function showError(err) {
  if (!err) return;
  const box = $("room-alert");
  const message = err.message || String(err);
  box.textContent = message;
  box.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => {
    box.hidden = true;
  }, 8000);
}

async function loadMoreAudience() {
  if (!state.audienceCursor) return;
  const button = $("audience-more");
  button.disabled = true;
  try {
    const page = await fetchAudience(state.audienceCursor);
    state.appendAudience(page);
    audienceLoadedMore = true;
    render();
  } catch (err) {
    showError(err);
  } finally {
    button.disabled = false;
  }
}

function fetchAudience(cursor) {
  return api(`rooms/${roomId}/audience/`, { query: { cursor } });
}

// Listeners come and go without events (only a coalesced count): refresh the first page of the
// audience now and then, unless the person is browsing further pages (it would jump under them).
function scheduleAudienceRefresh() {
  if (audienceLoadedMore || audienceRefreshTimer) return;
  audienceRefreshTimer = setTimeout(async () => {
    audienceRefreshTimer = null;
    if (state.ended || state.gone) return;
    try {
      state.replaceAudience(await fetchAudience(null));
      render();
    } catch (_err) {
      // a later count change retries
    }
  }, 2000);
}

async function share() {
  // The share link (/r/<token>/) works for people who are not in the room yet.
  const token = state.room && state.room.share_token;
  const url = token ? `${location.origin}/r/${encodeURIComponent(token)}/` : `${location.origin}/rooms/${roomId}/`;
  const title = state.room ? state.room.title : "A live room";
  try {
    if (navigator.share) {
      await navigator.share({ title, url });
      return;
    }
    await navigator.clipboard.writeText(url);
    toasts.show("Link copied.");
  } catch (_err) {
    toasts.show(h("span", {}, "Copy this link: ", h("input", { value: url, readonly: true, "aria-label": "Room link", onfocus: (e) => e.target.select() })), { timeout: 20000 });
  }
}

async function pingSearch(ev) {
  ev.preventDefault();
  const q = $("ping-query").value.trim();
  const list = $("ping-results");
  if (!q) return;
  list.replaceChildren(h("li", {}, "Searching…"));
  try {
    const body = await api("search/", { query: { q } });
    const people = (body.users || []).filter((u) => u.id !== meId);
    if (!people.length) {
      list.replaceChildren(h("li", {}, "Nobody found."));
      return;
    }
    list.replaceChildren(
      ...people.map((u) => {
        const button = h("button", { type: "button" }, "Ping");
        button.addEventListener("click", async () => {
          button.disabled = true;
          try {
            const reply = await socket.action("room.ping", { user_id: u.id });
            button.textContent = reply.kind === "invite" ? "Invited" : "Pinged";
          } catch (err) {
            button.disabled = false;
            button.textContent = "Ping";
            list.append(h("li", { class: "error" }, err.message));
          }
        });
        return h("li", {}, avatar(u, "sm"), h("span", {}, `${u.name} @${u.username}`), button);
      }),
    );
  } catch (err) {
    list.replaceChildren(h("li", { class: "error" }, err.message || "Search failed."));
  }
}

// --- wiring --------------------------------------------------------------------------------

$("listen-btn").addEventListener("click", startListening);
$("mic-btn").addEventListener("click", toggleMic);
$("hand-btn").addEventListener("click", async () => {
  try {
    if (state.you.hand_raised) {
      await socket.action("room.hand_lower");
      state.you.hand_raised = false;
      announcer.say(["Hand lowered."]);
    } else {
      const reply = await socket.action("room.hand_raise");
      state.you = { ...state.you, ...reply.you };
      announcer.say(["Hand raised. The moderators can invite you to speak."]);
    }
    render();
  } catch (err) {
    showError(err);
  }
});
$("stage-leave-btn").addEventListener("click", async () => {
  try {
    await socket.action("room.stage_leave");
  } catch (err) {
    showError(err);
  }
});
$("end-btn").addEventListener("click", async () => {
  if (!(await confirmDialog("End this room for everyone?", "End room"))) return;
  try {
    await socket.action("room.end");
  } catch (err) {
    showError(err);
  }
});
$("leave-btn").addEventListener("click", async () => {
  audio.stop();
  audio.releaseMic();
  await socket.stop({ leave: true });
  location.assign("/");
});
$("share-btn").addEventListener("click", share);
$("price-btn").addEventListener("click", priceRoom);
$("hand-policy").addEventListener("change", async (ev) => {
  const select = ev.target;
  const previous = state.room.hand_raise_policy;
  select.disabled = true;
  try {
    await socket.action("room.hand_policy_set", { policy: select.value });
  } catch (err) {
    select.value = previous;
    showError(err);
  } finally {
    select.disabled = false;
  }
});
$("audience-more").addEventListener("click", loadMoreAudience);
$("pin-btn").addEventListener("click", openPinDialog);
$("unpin-btn").addEventListener("click", unpin);
$("pin-form").addEventListener("submit", savePin);
$("pin-cancel").addEventListener("click", () => $("pin-dialog").close());
$("report-btn").addEventListener("click", openReportDialog);
$("report-form").addEventListener("submit", sendReport);
$("report-cancel").addEventListener("click", () => $("report-dialog").close());
$("join-btn").addEventListener("click", () => location.reload());
$("ping-btn").addEventListener("click", () => {
  $("ping-results").replaceChildren();
  $("ping-dialog").showModal();
});
$("ping-close").addEventListener("click", () => $("ping-dialog").close());
$("ping-form").addEventListener("submit", pingSearch);
// Back online after the laptop slept or the Wi-Fi dropped: do not wait for the backoff.
window.addEventListener("online", () => {
  socket.reconnectNow();
});

if (!Number.isInteger(roomId) || roomId <= 0) {
  leaveWith("room_not_found");
} else {
  socket.start();
}
