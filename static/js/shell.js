// Runs on every page: the notifications badge, the user menu, server messages that fade, and
// for members a light socket that shows them "online" to the people who follow them.
import { api } from "./api.js";

const body = document.body;

function showUnread(unread) {
  const badge = document.querySelector("[data-unread]");
  if (!badge) return;
  badge.hidden = !unread;
  badge.textContent = unread > 99 ? "99+" : String(unread);
  badge.closest("[data-notifications]")?.setAttribute("aria-label", unread ? `Notifications, ${unread} unread` : "Notifications");
}

// Bumped by every count the socket brings: a fetch answered after one is older than it.
let pushedCounts = 0;

async function refreshBadge() {
  if (!document.querySelector("[data-unread]")) return;
  const before = pushedCounts;
  try {
    const { unread } = await api("notifications/unread-count/");
    if (before === pushedCounts) showUnread(unread);
  } catch {
    /* the badge is a nicety; never bother the person with it */
  }
}

// New notifications arrive over the member's /ws/ socket (docs/protocol.md, "Notifications"):
// `notification.created` and `notification.read` carry the unread count, so the badge changes
// at once. The badge is fetched once when the page loads and once each time a socket
// (re)connects, which covers whatever happened while it was down; no polling.
function onNotificationEvent(event) {
  if (!event || (event.type !== "notification.created" && event.type !== "notification.read")) return false;
  const data = event.data || {};
  if (typeof data.unread === "number") {
    pushedCounts += 1;
    showUnread(data.unread);
  }
  document.dispatchEvent(new CustomEvent("notifications:pushed", { detail: data }));
  return true;
}
// The room page's socket (static/js/room/main.js) hands these events over the same way.
document.addEventListener("notifications:event", (e) => onNotificationEvent(e.detail));

if (body.dataset.member) {
  refreshBadge();
  document.addEventListener("notifications:changed", refreshBadge);
}

// Presence (docs/protocol.md, "Presence"): a member counts as online while one of their /ws/
// sockets is open, and it is the socket notifications arrive on. This one joins no room and
// sends nothing; the server holds it for the cost of
// one Redis write at connect, one per heartbeat batch and one at close. The room page opens its
// own socket, which counts just the same.
const CLOSE_REFUSED = new Set([4401, 4403]);

function keepOnline() {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${window.location.host}/ws/`;
  let attempt = 0;
  let opened = false;
  let leaving = false;
  window.addEventListener("pagehide", () => { leaving = true; });
  const open = () => {
    let ws;
    try {
      ws = new WebSocket(url, ["clubhouse.v1"]);
    } catch {
      return;
    }
    ws.addEventListener("open", () => {
      // A reconnect after a drop: fetch what was missed meanwhile, once (the first open
      // follows the page's own fetch).
      if (attempt > 0 || opened) refreshBadge();
      attempt = 0;
      opened = true;
    });
    ws.addEventListener("message", (message) => {
      try {
        onNotificationEvent(JSON.parse(message.data));
      } catch {
        /* not ours to read */
      }
    });
    ws.addEventListener("close", (event) => {
      if (leaving || CLOSE_REFUSED.has(event.code)) return;
      // Back off after a network blip or a server restart: 1 s, 2 s, 4 s… up to a minute.
      const wait = Math.min(60000, 1000 * 2 ** attempt++) * (0.75 + Math.random() / 2);
      setTimeout(open, wait);
    });
  };
  open();
}

if (body.dataset.member && !document.querySelector("#room[data-room-id]")) keepOnline();

// The installable app's service worker (clubhouse/pwa.py): the offline page and Web Push.
// Registering asks nothing of the person; push permission is asked for only from the
// settings page's button (static/js/pages/settings.js).
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {
    /* no worker (an old browser, a private window): the site works without it */
  });
}

// Menus (<details class="usermenu">): close on Escape, on a click elsewhere, and once an
// item in them is chosen.
for (const menu of document.querySelectorAll("details.usermenu")) {
  document.addEventListener("click", (event) => { if (!menu.contains(event.target)) menu.open = false; });
  menu.querySelector(".menu")?.addEventListener("click", (event) => {
    if (event.target.closest("a, button")) menu.open = false;
  });
  menu.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { menu.open = false; menu.querySelector("summary").focus(); }
  });
}
