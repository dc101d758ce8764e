// Runs on every page: the notifications badge, the user menu, server messages that fade.
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
