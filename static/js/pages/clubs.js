// Clubs: yours, discover (search), start a club.
import { api, clearFormErrors } from "../api.js";
import { busy, empty, fill, h, openDialog, reportError } from "../ui.js";

const ROLE = { admin: "Admin", leader: "Leader", member: "Member" };

export function clubCard(club) {
  const relation = club.viewer?.role ? ROLE[club.viewer.role] : club.viewer?.following ? "Following" : null;
  return h("a", { class: "card link club-card", href: `/clubs/${club.slug}/` },
    h("div", { class: "profile-head" },
      club.photo ? h("img", { class: "avatar", src: club.photo, alt: "" }) : h("span", { class: "avatar initials", "aria-hidden": "true" }, club.name.charAt(0).toUpperCase()),
      h("div", {}, h("h3", {}, club.name, club.is_verified ? h("span", { title: "Verified", "aria-label": "verified" }, " (verified)") : null),
        h("p", { class: "small" }, `${club.member_count} member${club.member_count === 1 ? "" : "s"}`, relation ? ` · ${relation}` : ""))),
    club.description ? h("p", { class: "small" }, club.description.slice(0, 140)) : null);
}

const mine = document.querySelector("[data-my-clubs]");
const list = document.querySelector("[data-clubs]");
const more = document.querySelector("[data-more]");
const search = document.querySelector("[data-club-search]");
let offset = 0;
let timer = null;

async function loadMine() {
  const page = await api("clubs/mine/", { query: { limit: 60 } });
  fill(mine, page.results.length ? page.results.map(clubCard) : empty("You are not in any club yet. Join one below, or start your own."));
}

async function loadList(reset) {
  if (reset) offset = 0;
  const q = search.q.value.trim();
  const page = await api("clubs/", { query: { q, limit: 30, offset } });
  const cards = page.results.map(clubCard);
  if (offset === 0) fill(list, cards.length ? cards : empty(q ? `No club matches “${q}”.` : "No clubs yet."));
  else list.append(...cards);
  offset += page.results.length;
  more.hidden = !page.next;
}

search.addEventListener("submit", (event) => { event.preventDefault(); loadList(true).catch(reportError); });
search.q.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => loadList(true).catch(reportError), 250); });
more.querySelector("button").addEventListener("click", () => loadList(false).catch(reportError));

document.querySelector("[data-new-club]").addEventListener("click", async () => {
  const topics = await api("topics/").catch(() => []);
  const form = h("form", { novalidate: true },
    h("div", { class: "form-error", "data-form-error": true, role: "alert", hidden: true }),
    h("label", { for: "club-name" }, "Name"), h("input", { id: "club-name", name: "name", type: "text", maxlength: "100", required: true }),
    h("label", { for: "club-description" }, "What is it about?"), h("textarea", { id: "club-description", name: "description", maxlength: "5000" }),
    h("label", { for: "club-join" }, "Who can join"),
    h("select", { id: "club-join", name: "join_policy" },
      h("option", { value: "open" }, "Anyone"), h("option", { value: "request" }, "By request"), h("option", { value: "nomination" }, "By nomination")),
    topics.length ? h("fieldset", {}, h("legend", {}, "Topics (up to 10)"), h("div", { class: "chips", "data-field": true },
      topics.map((t) => h("label", { class: "chip" }, h("input", { type: "checkbox", name: "topics", value: t.slug }), t.name)))) : null,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create club")));
  openDialog({ title: "Start a club", body: form });
  form.name.focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormErrors(form);
    const data = new FormData(form);
    await busy(form.querySelector("[type=submit]"), async () => {
      try {
        const club = await api("clubs/", { method: "POST", body: {
          name: data.get("name").trim(), description: data.get("description"), join_policy: data.get("join_policy"), topics: data.getAll("topics"),
        } });
        location.assign(`/clubs/${club.slug}/`);
      } catch (error) { reportError(error, form); }
    });
  });
});

loadMine().catch(reportError);
loadList(true).catch(reportError);
