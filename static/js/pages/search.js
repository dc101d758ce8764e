// Search people, live rooms and clubs (GET /api/v1/search/?q=), as you type.
import { api } from "../api.js";
import { personRow, roomCard } from "../cards.js";
import { fill, h, reportError } from "../ui.js";

const form = document.querySelector("[data-search-form]");
const input = form.querySelector("input");
const results = document.querySelector("[data-results]");
let timer = null;
let controller = null;

async function run() {
  const q = input.value.trim();
  history.replaceState(null, "", q ? `?q=${encodeURIComponent(q)}` : location.pathname);
  if (!q) { fill(results, h("p", { class: "muted" }, "Type a name, a room title or a topic.")); return; }
  controller?.abort();
  controller = new AbortController();
  try {
    const found = await api("search/", { query: { q }, signal: controller.signal });
    const sections = [];
    if (found.users.length) sections.push(h("section", { "aria-labelledby": "people-h" }, h("h2", { id: "people-h" }, "People"),
      h("ul", { class: "list card" }, found.users.map((u) => personRow({ ...u, display_name: u.name })))));
    if (found.rooms.length) sections.push(h("section", { "aria-labelledby": "rooms-h" }, h("h2", { id: "rooms-h" }, "Live rooms"),
      h("div", { class: "grid two" }, found.rooms.map(roomCard))));
    if (found.clubs.length) sections.push(h("section", { "aria-labelledby": "clubs-h" }, h("h2", { id: "clubs-h" }, "Clubs"),
      h("ul", { class: "list card" }, found.clubs.map((c) => h("li", {}, h("div", { class: "grow" },
        h("a", { href: `/clubs/${c.slug}/` }, c.name), h("div", { class: "small" }, c.description.slice(0, 140))))))));
    fill(results, sections.length ? sections : h("p", { class: "empty" }, `Nothing found for “${q}”.`));
  } catch (error) { reportError(error); }
}

form.addEventListener("submit", (event) => { event.preventDefault(); run(); });
input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(run, 250); });
input.focus();
run();
