// Followers / following of a person, 50 at a time.
import { api } from "../api.js";
import { personRow } from "../cards.js";
import { fill, h, reportError } from "../ui.js";

const list = document.querySelector("[data-people]");
const more = document.querySelector("[data-more]");
const { username, which } = list.dataset;
let offset = 0;

async function load() {
  try {
    const page = await api(`users/${encodeURIComponent(username)}/${which}/`, { query: { limit: 50, offset } });
    const rows = page.results.map((u) => personRow(u));
    if (offset === 0) fill(list, rows.length ? rows : h("li", { class: "muted" }, which === "followers" ? "No followers yet." : "Not following anyone yet."));
    else list.append(...rows);
    offset += page.results.length;
    more.hidden = !page.next;
  } catch (error) {
    fill(list, h("li", { class: "muted" }, error.message));
    reportError(error);
  }
}
more.querySelector("button").addEventListener("click", load);
load();
