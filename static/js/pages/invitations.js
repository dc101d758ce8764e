// Invitations: your quota, a new invitation (the link is shown once), pending ones to revoke.
import { api, apiAll, clearFormErrors } from "../api.js";
import { busy, confirmDialog, fill, h, reportError, toast, userLink, when } from "../ui.js";

const quotaBox = document.querySelector("[data-quota]");
const list = document.querySelector("[data-invitations]");
const form = document.querySelector("[data-invite-form]");
const linkBox = form.querySelector("[data-new-link]");

async function loadQuota() {
  const me = await api("me/");
  quotaBox.textContent = String(me.invitation_quota);
}

function statusLabel(inv) {
  if (inv.status === "accepted") return h("span", {}, "Accepted by ", inv.accepted_by ? userLink(inv.accepted_by) : "someone");
  if (inv.status === "revoked") return "Revoked";
  if (inv.expired) return "Expired";
  return `Pending · expires ${when(inv.expires_at, { dateStyle: "medium" })}`;
}

async function loadList() {
  const invitations = await apiAll("invitations/");
  fill(list, invitations.length ? invitations.map((inv) => {
    const pending = inv.status === "pending" && !inv.expired;
    const revoke = pending ? h("button", { type: "button", class: "secondary", "aria-label": `Revoke the invitation to ${inv.email || inv.phone}` }, "Revoke") : null;
    revoke?.addEventListener("click", async () => {
      if (!(await confirmDialog({ title: "Revoke this invitation?", message: "The link stops working. Your invitation is not given back.", confirm: "Revoke", danger: true }))) return;
      try {
        await api(`invitations/${inv.id}/revoke/`, { method: "POST" });
        toast("Invitation revoked.");
        refresh();
      } catch (error) { reportError(error); }
    });
    return h("li", { dataset: { status: inv.status } },
      h("div", { class: "grow" }, h("strong", {}, inv.email || inv.phone), h("div", { class: "small" }, statusLabel(inv))),
      revoke);
  }) : h("li", { class: "muted" }, "You have not invited anyone yet."));
}

function refresh() {
  loadQuota().catch(reportError);
  loadList().catch(reportError);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearFormErrors(form);
  const data = new FormData(form);
  await busy(form.querySelector("[type=submit]"), async () => {
    try {
      const created = await api("invitations/", { method: "POST", body: { email: data.get("email").trim(), phone: data.get("phone").trim() } });
      form.reset();
      const input = h("input", { type: "text", readonly: true, value: created.link, "aria-label": "Invitation link", id: "invite-link" });
      const copy = h("button", { type: "button", class: "secondary" }, "Copy link");
      copy.addEventListener("click", async () => {
        try { await navigator.clipboard.writeText(created.link); toast("Link copied."); } catch { input.select(); }
      });
      fill(linkBox, h("div", { class: "quote" }, h("p", {}, "Invitation ready. Share this link with them too — it is shown only once:"), input, h("div", { class: "actions" }, copy)));
      refresh();
    } catch (error) { reportError(error, form); }
  });
});

refresh();
