// Onboarding: name, photo, topics (PATCH /api/v1/me/), then suggested people to follow.
import { ApiError, api, clearFormErrors } from "../api.js";
import { personRow } from "../cards.js";
import { busy, empty, fill, h, reportError, toast } from "../ui.js";

function onSubmit(form, work) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormErrors(form);
    await busy(form.querySelector("[type=submit]"), async () => {
      try { await work(new FormData(form)); } catch (error) { reportError(error, form); }
    });
  });
}

const nameForm = document.querySelector("[data-name-form]");
onSubmit(nameForm, async (data) => {
  await api("me/", { method: "PATCH", body: { display_name: data.get("display_name").trim(), bio: data.get("bio") } });
  toast("Saved.");
});

const photoForm = document.querySelector("[data-photo-form]");
onSubmit(photoForm, async (data) => {
  const file = data.get("avatar");
  if (!file || !file.size) {
    throw new ApiError({ code: "invalid", message: "Choose a photo first.", fields: { avatar: ["Choose a photo first."] } });
  }
  const upload = new FormData();
  upload.append("avatar", file);
  const me = await api("me/", { method: "PATCH", body: upload });
  if (me.avatar) fill(document.querySelector("[data-photo-preview]"), h("img", { class: "avatar lg", src: me.avatar, alt: "Your new photo" }));
  toast("Photo updated.");
});

const topicsForm = document.querySelector("[data-topics-form]");
const topicsBox = topicsForm.querySelector("[data-topics]");
onSubmit(topicsForm, async (data) => {
  await api("me/", { method: "PATCH", body: { topics: data.getAll("topics") } });
  toast("Topics saved. Your hallway will lean towards them.");
  loadSuggestions();
});

async function loadTopics() {
  const [topics, me] = await Promise.all([api("topics/"), api("me/")]);
  const mine = new Set(me.topics);
  fill(topicsBox, topics.length ? topics.map((topic) => h("label", { class: "chip" },
    h("input", { type: "checkbox", name: "topics", value: topic.slug, checked: mine.has(topic.slug) }), topic.name))
    : empty("No topics yet."));
}

async function loadSuggestions() {
  const list = document.querySelector("[data-suggestions]");
  const people = await api("me/suggestions/", { query: { limit: 12 } });
  fill(list, people.length ? people.map((person) => {
    const button = h("button", { type: "button", class: "secondary", "aria-label": `Follow ${person.display_name}` }, "Follow");
    button.addEventListener("click", async () => {
      try {
        const relation = await api(`users/${encodeURIComponent(person.username)}/follow/`, { method: "POST" });
        button.textContent = relation.follows ? "Following ✓" : "Follow";
        button.setAttribute("aria-label", `${relation.follows ? "Following" : "Follow"} ${person.display_name}`);
        button.disabled = relation.follows;
      } catch (error) { reportError(error); }
    });
    const why = person.nominated_me ? "Nominated you" : person.friends_follow ? `Followed by ${person.friends_follow} you follow` : person.shared_topics ? `${person.shared_topics} shared topic${person.shared_topics > 1 ? "s" : ""}` : person.bio;
    const row = personRow(person, button);
    if (why) row.querySelector(".small").append(` · ${why}`);
    return row;
  }) : h("li", { class: "muted" }, "No suggestions yet: invite your friends!"));
}

loadTopics().catch(reportError);
loadSuggestions().catch(reportError);
