// "Start a room": title, type, topics, club. Posts to /api/v1/rooms/ and goes to the room.
import { api, apiAll, clearFormErrors } from "./api.js";
import { busy, h, openDialog, reportError } from "./ui.js";

const TYPES = [
  ["open", "Open", "Anyone can join."],
  ["social", "Social", "People followed by a speaker."],
  ["closed", "Closed", "Only people you invite."],
];

export async function roomForm({ clubSlug } = {}) {
  const [topics, clubs] = await Promise.all([
    api("topics/").catch(() => []),
    apiAll("clubs/mine/", { max: 200 }).catch(() => []),
  ]);
  const managed = clubs.filter((club) => ["admin", "leader"].includes(club.viewer?.role));
  const form = h("form", { class: "room-form", novalidate: true },
    h("div", { class: "form-error", "data-form-error": true, role: "alert", hidden: true }),
    h("label", { for: "room-title" }, "What do you want to talk about?"),
    h("input", { id: "room-title", name: "title", type: "text", maxlength: "120", placeholder: "e.g. Late night jazz" }),
    h("fieldset", {}, h("legend", {}, "Who can join"),
      TYPES.map(([value, label, hint], i) => h("label", { class: "choice" },
        h("input", { type: "radio", name: "type", value, checked: i === 0 }),
        h("span", {}, h("strong", {}, label), " — ", hint)))),
    topics.length ? h("fieldset", {}, h("legend", {}, "Topics"),
      h("div", { class: "chips", "data-field": true }, topics.map((topic) => h("label", { class: "chip" },
        h("input", { type: "checkbox", name: "topic_ids", value: topic.id }), topic.name)))) : null,
    managed.length ? [h("label", { for: "room-club" }, "Start it in a club (optional)"),
      h("select", { id: "room-club", name: "club_id" }, h("option", { value: "" }, "No club"),
        managed.map((club) => h("option", { value: club.id, selected: club.slug === clubSlug }, club.name)))] : null,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Let's go")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormErrors(form);
    const data = new FormData(form);
    const body = {
      title: data.get("title").trim(),
      type: data.get("type"),
      topic_ids: data.getAll("topic_ids").map(Number),
      club_id: data.get("club_id") ? Number(data.get("club_id")) : null,
    };
    await busy(form.querySelector("[type=submit]"), async () => {
      try {
        const room = await api("rooms/", { method: "POST", body });
        location.assign(`/rooms/${room.room?.id ?? room.id}/`);
      } catch (error) {
        reportError(error, form);
      }
    });
  });
  return form;
}

export async function openRoomDialog(options) {
  const form = await roomForm(options);
  const dialog = openDialog({ title: "Start a room", body: form });
  form.querySelector("input[name=title]").focus();
  return dialog;
}
