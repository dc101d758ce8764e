// Runs on every page: the notifications badge, the user menu, server messages that fade, and
// for members a light socket that shows them "online" to the people who follow them.
import { api } from "./api.js";

const body = document.body;

async function refreshBadge() {
  const badge = document.querySelector("[data-unread]");
  if (!badge || document.hidden) return;
  try {
    const { unread } = await api("notifications/unread-count/");
    badge.hidden = !unread;
    badge.textContent = unread > 99 ? "99+" : String(unread);
    badge.closest("[data-notifications]")?.setAttribute("aria-label", unread ? `Notifications, ${unread} unread` : "Notifications");
  } catch {
    /* the badge is a nicety; never bother the person with it */
  }
}

if (body.dataset.member) {
  refreshBadge();
  setInterval(refreshBadge, 30000);
  document.addEventListener("visibilitychange", refreshBadge);
  document.addEventListener("notifications:changed", refreshBadge);
}

// Presence (docs/protocol.md, "Presence"): a member counts as online while one of their /ws/
// sockets is open. This one joins no room and sends nothing; the server holds it for the cost of
// one Redis write at connect, one per heartbeat batch and one at close. The room page opens its
// own socket, which counts just the same.
const CLOSE_REFUSED = new Set([4401, 4403]);

function keepOnline() {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${window.location.host}/ws/`;
  let attempt = 0;
  let leaving = false;
  window.addEventListener("pagehide", () => { leaving = true; });
  const open = () => {
    let ws;
    try {
      ws = new WebSocket(url, ["clubhouse.v1"]);
    } catch {
      return;
    }
    ws.addEventListener("open", () => { attempt = 0; });
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
