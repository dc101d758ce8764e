// The calendar: upcoming events grouped by day ("for you" or everything), and scheduling one.
import { api, apiAll, clearFormErrors } from "../api.js";
import { eventCard } from "../cards.js";
import { localInputValue, optionFields, optionsBody, startsAtValue } from "../event_form.js";
import { markEventPrices } from "../tickets.js";
import { busy, empty, fill, h, openDialog, reportError, when } from "../ui.js";

const calendar = document.querySelector("[data-calendar]");
const more = document.querySelector("[data-more]");
let source = "events/upcoming/";
let offset = 0;
let lastDay = null;

function dayOf(iso) { return when(iso, { weekday: "long", month: "long", day: "numeric" }); }

async function load(reset) {
  if (reset) { offset = 0; lastDay = null; }
  try {
    const page = await api(source, { query: { limit: 30, offset } });
    const nodes = [];
    for (const event of page.results) {
      const day = dayOf(event.starts_at);
      if (day !== lastDay) { nodes.push(h("h2", { class: "calendar-day" }, day)); lastDay = day; }
      nodes.push(eventCard(event));
    }
    if (offset === 0) fill(calendar, nodes.length ? nodes : empty(source === "events/" ? "Nothing is scheduled yet." : "Nothing for you yet: follow people and clubs, or look at everything upcoming."));
    else calendar.append(...nodes);
    offset += page.results.length;
    more.hidden = !page.next;
    markEventPrices(calendar);
  } catch (error) { reportError(error); }
}

async function scheduleDialog(clubId) {
  const [topics, clubs] = await Promise.all([api("topics/").catch(() => []), apiAll("clubs/mine/").catch(() => [])]);
  const managed = clubs.filter((c) => ["admin", "leader"].includes(c.viewer?.role));
  const soon = new Date(Date.now() + 60 * 60 * 1000);
  soon.setMinutes(0, 0, 0);
  const form = h("form", { novalidate: true },
    h("div", { class: "form-error", "data-form-error": true, role: "alert", hidden: true }),
    h("label", { for: "ev-title" }, "Title"), h("input", { id: "ev-title", name: "title", type: "text", maxlength: "120", required: true }),
    h("label", { for: "ev-when" }, `Starts (${Intl.DateTimeFormat().resolvedOptions().timeZone})`),
    h("input", { id: "ev-when", name: "starts_at", type: "datetime-local", value: localInputValue(soon), required: true }),
    h("label", { for: "ev-desc" }, "Description (optional)"), h("textarea", { id: "ev-desc", name: "description", maxlength: "2000" }),
    managed.length ? [h("label", { for: "ev-club" }, "Club (optional)"), h("select", { id: "ev-club", name: "club_id" }, h("option", { value: "" }, "No club"),
      managed.map((c) => h("option", { value: c.id, selected: String(c.id) === String(clubId) }, c.name)))] : null,
    topics.length ? h("fieldset", {}, h("legend", {}, "Topics"), h("div", { class: "chips", "data-field": true },
      topics.map((t) => h("label", { class: "chip" }, h("input", { type: "checkbox", name: "topic_ids", value: t.id }), t.name)))) : null,
    optionFields({ clubChosen: managed.some((c) => String(c.id) === String(clubId)) }),
    h("p", { class: "small" }, "Creators can sell tickets: set the price on the event's page, which opens once it is scheduled."),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Schedule")));
  openDialog({ title: "Schedule an event", body: form });
  form.elements.title.focus();
  // members-only is a club event's option: offered once a club is chosen
  form.elements.club_id?.addEventListener("change", () => {
    const box = form.querySelector("[data-members-only-box]");
    box.hidden = !form.elements.club_id.value;
    if (box.hidden) form.elements.members_only.checked = false;
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormErrors(form);
    const data = new FormData(form);
    await busy(form.querySelector("[type=submit]"), async () => {
      try {
        const created = await api("events/", { method: "POST", body: {
          title: data.get("title").trim(), description: data.get("description"),
          starts_at: startsAtValue(form),
          club_id: data.get("club_id") ? Number(data.get("club_id")) : null,
          topic_ids: data.getAll("topic_ids").map(Number),
          ...(await optionsBody(form)),
        } });
        location.assign(`/events/${created.id}/`);
      } catch (error) { reportError(error, form); }
    });
  });
}

document.querySelectorAll("[data-source]").forEach((tab) => tab.addEventListener("click", () => {
  document.querySelectorAll("[data-source]").forEach((t) => t.setAttribute("aria-selected", String(t === tab)));
  source = tab.dataset.source;
  load(true);
}));
more.querySelector("button").addEventListener("click", () => load(false));
document.querySelector("[data-new-event]").addEventListener("click", () => scheduleDialog().catch(reportError));
const params = new URLSearchParams(location.search);
if (params.get("new")) scheduleDialog(params.get("club")).catch(reportError);
load(true);
