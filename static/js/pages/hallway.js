// The hallway: who you follow is online now, live rooms for you, people you follow who are in
// a room, upcoming events, suggestions when you follow few people. Refreshes itself every 20 s
// while visible, and when the tab comes back into view.
import { api } from "../api.js";
import { eventCard, personRow, roomCard } from "../cards.js";
import { markEventPrices } from "../tickets.js";
import { openRoomDialog } from "../room_form.js";
import { avatar, empty, fill, h, reportError, toast } from "../ui.js";

const me = document.body.dataset.user;
const roomsBox = document.querySelector("[data-rooms]");
const moreBox = document.querySelector("[data-more-rooms]");
const onlineBox = document.querySelector("[data-online]");
const onlineNowBox = document.querySelector("[data-online-now-box]");
const onlineNowList = document.querySelector("[data-online-now]");
const eventsBox = document.querySelector("[data-events]");
const PAGE = 20;
let shown = PAGE;

async function loadRooms() {
  const page = await api("hallway/", { query: { limit: shown } });
  roomsBox.removeAttribute("aria-busy");
  if (!page.results.length) {
    fill(roomsBox, h("div", { class: "empty" },
      h("p", {}, "No live rooms for you right now."),
      h("p", {}, "Start one, or follow more people to see their rooms here.")));
  } else {
    fill(roomsBox, page.results.map(roomCard));
  }
  moreBox.hidden = !page.next;
  return page.results;
}

async function loadOnline() {
  const { results } = await api("me/following/live/");
  if (!results.length) {
    fill(onlineBox, h("li", { class: "muted" }, "Nobody you follow is in a room right now."));
    return;
  }
  fill(onlineBox, results.map(({ user, role, room }) => h("li", {},
    avatar(user, "sm"),
    h("div", { class: "grow" }, h("a", { href: `/u/${encodeURIComponent(user.username)}/` }, user.name),
      h("div", { class: "small" }, role === "listener" ? "listening in " : "speaking in ",
        h("a", { href: `/rooms/${room.id}/` }, room.title || "a room"))))));
}

// "Online now": people you follow who have the app open (GET me/following/online/), with the
// room they are in when you may enter it. Hidden when nobody is.
async function loadOnlineNow() {
  const page = await api("me/following/online/", { query: { limit: 30 } });
  onlineNowBox.hidden = !page.results.length;
  fill(onlineNowList, page.results.map(({ user, room }) => {
    const profile = `/u/${encodeURIComponent(user.username)}/`;
    return h("li", { class: "online-person" },
      h("a", { href: profile, class: "online-face", tabindex: "-1", "aria-hidden": "true" },
        avatar(user), h("span", { class: "online-dot" })),
      h("a", { href: profile, class: "online-name", title: user.name }, user.name),
      room ? h("a", { href: `/rooms/${room.id}/`, class: "online-room small" }, `in ${room.title || "a room"}`) : null);
  }));
}

async function loadEvents() {
  const page = await api("events/upcoming/", { query: { limit: 5 } });
  fill(eventsBox, page.results.length ? page.results.map(eventCard) : empty("Nothing scheduled yet."));
  markEventPrices(eventsBox);
}

async function loadSuggestions() {
  const mine = await api(`users/${encodeURIComponent(me)}/following/`, { query: { limit: 5 } });
  if (mine.count >= 5) return;
  const people = await api("me/suggestions/", { query: { limit: 5 } });
  if (!people.length) return;
  const box = document.querySelector("[data-suggest-box]");
  box.hidden = false;
  fill(box.querySelector("[data-suggestions]"), people.map((person) => {
    const button = h("button", { type: "button", class: "secondary" }, "Follow");
    button.addEventListener("click", async () => {
      try {
        await api(`users/${encodeURIComponent(person.username)}/follow/`, { method: "POST" });
        button.textContent = "Following ✓";
        button.disabled = true;
        refresh();
      } catch (error) { reportError(error); }
    });
    return personRow(person, button);
  }));
}

async function refresh() {
  try {
    await Promise.all([loadRooms(), loadOnline(), loadOnlineNow()]);
  } catch (error) {
    reportError(error);
  }
}

moreBox.querySelector("button").addEventListener("click", () => { shown += PAGE; refresh(); });
document.querySelector("[data-start-room]").addEventListener("click", (event) => {
  event.preventDefault();
  openRoomDialog().catch(reportError);
});

await refresh();
loadEvents().catch(reportError);
loadSuggestions().catch(() => toast("Could not load suggestions.", { kind: "error" }));
// Never redraw under someone's keyboard focus or pointer: they would lose their place.
function refreshWhenIdle() {
  const busyHere = [roomsBox, onlineNowList].some((box) => box.contains(document.activeElement) || box.matches(":hover"));
  if (!document.hidden && !busyHere) refresh();
}
setInterval(refreshWhenIdle, 20000);
document.addEventListener("visibilitychange", refreshWhenIdle);
