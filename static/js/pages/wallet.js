// The creator's wallet (GET /api/v1/payouts/wallet/): balances, payout status, tips, stipends
// and any further list the API adds (tickets, payouts…), shown as a table of its fields.
import { api } from "../api.js";
import { empty, fill, h, money, reportError, when } from "../ui.js";

const box = document.querySelector("[data-wallet]");
const KNOWN = new Set(["creator", "send_money_enabled", "payouts_active", "balances", "tips_received", "stipends"]);
const STATUS = { succeeded: "Received", requires_action: "Waiting for the sender's bank", created: "Processing", failed: "Failed", refunded: "Refunded", disputed: "Disputed", paid: "Paid", pending: "Pending", scheduled: "Scheduled", skipped: "Skipped" };

function label(key) { return key.replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase()); }
function statusText(s) { return STATUS[s] || label(String(s)); }

function table(caption, columns, rows) {
  return h("div", { class: "table-wrap card" }, h("table", {},
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, columns.map(([title]) => h("th", { scope: "col" }, title)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, cell]) => h("td", {}, cell(row))))))));
}

function genericCell(row, key) {
  const value = row[key];
  if (value === null || value === undefined) return "—";
  if (key === "amount" || key.endsWith("_amount") || key === "fee") return h("span", { class: "money" }, money(value, row.currency));
  if (key === "status") return statusText(value);
  if (typeof value === "string" && /^\d{4}-\d\d-\d\dT/.test(value)) return when(value);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function render(w) {
  const parts = [];
  const balances = Object.entries(w.balances || {});
  parts.push(h("section", { class: "grid three", "aria-label": "Balances" },
    balances.length ? balances.map(([currency, amount]) => h("div", { class: "card stat" }, h("span", { class: "muted" }, `Balance (${currency})`), h("strong", { class: "money" }, money(amount, currency))))
      : h("div", { class: "card stat" }, h("span", { class: "muted" }, "Balance"), h("strong", { class: "money" }, money(0, "USD"))),
    h("div", { class: "card stat" }, h("span", { class: "muted" }, "Payouts"),
      h("strong", {}, w.payouts_active ? "Active ✓" : "Not set up"),
      w.payouts_active ? null : h("button", { type: "button", class: "secondary", "data-onboarding": true }, "Set up payouts")),
    h("div", { class: "card stat" }, h("span", { class: "muted" }, "Send Money"), h("strong", {}, w.send_money_enabled ? "On" : "Off"))));
  if (!w.creator) {
    parts.push(h("div", { class: "card quote" }, h("p", {}, "You are not in the creator program yet: tips and stipends start once you are accepted."),
      h("a", { class: "button", href: "/creator/apply/" }, "Apply to the creator program")));
  }
  parts.push(h("h2", {}, "Tips received"));
  parts.push((w.tips_received || []).length ? table("Tips received", [
    ["When", (t) => when(t.created)],
    ["Amount", (t) => h("span", { class: "money" }, money(t.amount, t.currency))],
    ["Status", (t) => statusText(t.status)],
  ], w.tips_received) : empty("No tips yet."));
  parts.push(h("h2", {}, "Stipends"));
  parts.push((w.stipends || []).length ? table("Stipends", [
    ["Month", (s) => s.month],
    ["Amount", (s) => h("span", { class: "money" }, money(s.amount, s.currency))],
    ["Status", (s) => statusText(s.status)],
  ], w.stipends) : empty("No stipends."));
  for (const [key, value] of Object.entries(w)) {
    if (KNOWN.has(key)) continue;
    parts.push(h("h2", {}, label(key)));
    if (Array.isArray(value)) {
      const keys = [...new Set(value.flatMap((row) => Object.keys(row || {})))].filter((k) => k !== "currency" && k !== "uuid" && k !== "id");
      parts.push(value.length ? table(label(key), keys.map((k) => [label(k), (row) => genericCell(row, k)]), value) : empty("Nothing yet."));
    } else if (value && typeof value === "object") {
      parts.push(h("dl", { class: "card" }, Object.entries(value).map(([k, v]) => [h("dt", { class: "muted" }, label(k)), h("dd", {}, genericCell(value, k) ?? String(v))])));
    } else {
      parts.push(h("p", {}, String(value)));
    }
  }
  fill(box, parts);
  box.removeAttribute("aria-busy");
  box.querySelector("[data-onboarding]")?.addEventListener("click", async (event) => {
    event.target.disabled = true;
    try {
      const { url } = await api("payouts/connect/onboarding-link/", { method: "POST" });
      location.assign(url);
    } catch (error) { event.target.disabled = false; reportError(error); }
  });
}

api("payouts/wallet/").then(render).catch((error) => { fill(box, empty(error.message)); reportError(error); });
