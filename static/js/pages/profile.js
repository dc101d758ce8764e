// A profile: follow / unfollow, block, report, send money — all through /api/v1/.
import { api } from "../api.js";
import { openSendMoney } from "../send_money.js";
import { busy, confirmDialog, h, openDialog, pageData, reportError, toast } from "../ui.js";

const root = document.querySelector("[data-profile]");
const username = root.dataset.profile;
const name = root.querySelector("h1").textContent.trim();
const base = `users/${encodeURIComponent(username)}`;

const followForm = root.querySelector("[data-follow-form]");
followForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = followForm.querySelector("button");
  const action = followForm.querySelector("input[name=action]");
  const follow = action.value === "follow";
  await busy(button, async () => {
    try {
      const relation = await api(`${base}/follow/`, { method: follow ? "POST" : "DELETE" });
      action.value = relation.follows ? "unfollow" : "follow";
      button.textContent = relation.follows ? "Following ✓" : "Follow";
      button.className = relation.follows ? "secondary" : "";
      button.setAttribute("aria-pressed", String(relation.follows));
      const count = root.querySelector("[data-followers-count]");
      if (count) count.textContent = String(Number(count.textContent) + (relation.follows === follow ? (follow ? 1 : -1) : 0));
      toast(relation.follows ? `You follow ${name}.` : `You unfollowed ${name}.`);
    } catch (error) { reportError(error); }
  });
});

const sendMoney = root.querySelector("[data-send-money]");
sendMoney?.addEventListener("click", () => {
  openSendMoney({ username, name, beta: sendMoney.hasAttribute("data-beta") }).catch(reportError);
});

root.querySelector("[data-block]")?.addEventListener("click", async () => {
  const yes = await confirmDialog({
    title: `Block @${username}?`,
    message: "They won't see you or your rooms, and you won't see theirs. They are not told.",
    confirm: "Block", danger: true,
  });
  if (!yes) return;
  try {
    await api(`${base}/block/`, { method: "POST" });
    toast(`@${username} is blocked.`);
    setTimeout(() => location.assign("/"), 800);
  } catch (error) { reportError(error); }
});

root.querySelector("[data-report]")?.addEventListener("click", () => {
  const reasons = pageData("report-reasons");
  const form = h("form", { novalidate: true },
    h("div", { class: "form-error", "data-form-error": true, role: "alert", hidden: true }),
    h("fieldset", {}, h("legend", {}, "What is wrong?"),
      reasons.map(([value, label], i) => h("label", { class: "choice" }, h("input", { type: "radio", name: "reason", value, checked: i === 0 }), label))),
    h("label", { for: "report-text" }, "Anything our moderators should know (optional)"),
    h("textarea", { id: "report-text", name: "text", maxlength: "2000" }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Send report")));
  const dialog = openDialog({ title: `Report @${username}`, body: form });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    try {
      await api(`${base}/report/`, { method: "POST", body: { reason: data.get("reason"), text: data.get("text") } });
      dialog.close();
      toast("Thanks. Our moderators will look at it.");
    } catch (error) { reportError(error, form); }
  });
});
