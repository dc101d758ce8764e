// The wallet. As a creator (GET payouts/wallet/): balances, what the balance is made of per
// currency (tips, ticket sales, memberships, stipends, refunds, payouts to the bank), the Stripe
// account, tips, ticket sales (payouts/ticket-sales/), paid clubs, stipends and bank payouts.
// As anyone: my tickets (payouts/tickets/) and my club memberships (payouts/subscriptions/),
// with Cancel / Resume. Any further list the wallet API adds is drawn as a table of its fields.
import { api } from "../api.js";
import { isLive, subscriptionState } from "../club_membership.js";
import { ticketStatusText } from "../tickets.js";
import { busy, confirmDialog, empty, fill, h, money, reportError, toast, when } from "../ui.js";

const box = document.querySelector("[data-wallet]");
const KNOWN = new Set(["creator", "send_money_enabled", "payouts_active", "balances", "figures", "account", "tips_received", "stipends", "clubs", "payouts"]);
const STATUS = { succeeded: "Received", requires_action: "Waiting for the sender's bank", created: "Processing", failed: "Failed", refunded: "Refunded", disputed: "Disputed", paid: "Paid", pending: "Pending", scheduled: "Scheduled", skipped: "Skipped", in_transit: "On its way", canceled: "Cancelled" };
// The rows of "What your balance is made of", in reading order.
const FIGURES = [
  ["tips", "Tips (Send Money)"],
  ["tickets", "Ticket sales, after the platform fee"],
  ["memberships", "Club memberships, after the platform fee"],
  ["stipends", "Creator stipends"],
  ["refunds", "Refunds to buyers (your share)"],
  ["corrections", "Corrections by staff"],
  ["paid_out", "Paid out to your bank"],
];

function label(key) { return key.replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase()); }
function statusText(s) { return STATUS[s] || label(String(s)); }
const cash = (amount, currency) => h("span", { class: `money${amount < 0 ? " negative" : ""}` }, money(amount, currency));

function table(caption, columns, rows, attrs = {}) {
  return h("div", { class: "table-wrap card", ...attrs }, h("table", {},
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

function section(title, id, ...content) {
  return h("section", { "aria-labelledby": id, [`data-${id}`]: true }, h("h2", { id }, title), content);
}

/** Per currency, what the balance is made of: one column per currency, one row per kind. */
function figuresTable(figures) {
  const currencies = Object.keys(figures || {}).sort();
  if (!currencies.length) return empty("Nothing earned yet.");
  const rows = FIGURES.filter(([key]) => currencies.some((c) => figures[c][key]));
  const head = h("tr", {}, h("th", { scope: "col" }, "Source"), currencies.map((c) => h("th", { scope: "col" }, c)));
  const line = (title, key, cls) => h("tr", { class: cls || "" }, h("th", { scope: "row" }, title),
    currencies.map((c) => h("td", {}, cash(figures[c][key] || 0, c))));
  const body = [...rows.map(([key, title]) => line(title, key)), line("Balance", "balance", "total")];
  const disputes = currencies.some((c) => figures[c].disputes);
  return h("div", { class: "table-wrap card" },
    h("table", { class: "figures", "data-figures": true },
      h("caption", { class: "visually-hidden" }, "What your balance is made of, per currency"),
      h("thead", {}, head), h("tbody", {}, body)),
    disputes ? h("p", { class: "small" }, "Chargebacks on your sales: ",
      currencies.filter((c) => figures[c].disputes).map((c) => money(figures[c].disputes, c)).join(", "),
      ". The platform absorbed them; they are not taken from your balance.") : null);
}

function renderCreator(w, sales) {
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
    parts.push(h("div", { class: "card quote" }, h("p", {}, "You are not in the creator program yet: tips, ticket sales, paid clubs and stipends start once you are accepted."),
      h("a", { class: "button", href: "/creator/apply/" }, "Apply to the creator program")));
    if (!balances.length) return parts;
  }
  parts.push(section("What your balance is made of", "wallet-figures", figuresTable(w.figures)));
  if (w.account) {
    const yes = (v) => (v ? "Yes" : "Not yet");
    parts.push(h("div", { class: "quote", role: "group", "aria-label": "Your Stripe account" }, h("dl", {},
      h("dt", {}, "Payments to you (transfers)"), h("dd", {}, yes(w.account.transfers_active)),
      h("dt", {}, "Payouts to your bank"), h("dd", {}, yes(w.account.payouts_enabled)),
      h("dt", {}, "Details submitted"), h("dd", {}, yes(w.account.details_submitted)))));
  }
  parts.push(section("Tips received", "wallet-tips", (w.tips_received || []).length ? table("Tips received", [
    ["When", (t) => when(t.created)],
    ["From", (t) => h("a", { href: `/u/${encodeURIComponent(t.sender)}/` }, `@${t.sender}`)],
    ["Amount", (t) => h("span", { class: "money" }, money(t.amount, t.currency))],
    ["Status", (t) => statusText(t.status)],
  ], w.tips_received) : empty("No tips yet.")));
  const totals = (sales && sales.totals) || [];
  const sold = (sales && sales.results) || [];
  parts.push(section("Ticket sales", "wallet-ticket-sales",
    totals.length ? h("div", { class: "grid three" }, totals.map((t) => h("div", { class: "card stat" },
      h("span", { class: "muted" }, `${t.tickets} ticket${t.tickets === 1 ? "" : "s"} sold (${t.currency})`),
      h("strong", { class: "money" }, money(t.net, t.currency)),
      h("span", { class: "small" }, `${money(t.gross, t.currency)} paid, ${money(t.platform_fee, t.currency)} platform fee`)))) : null,
    sold.length ? table("Ticket sales", [
      ["When", (t) => when(t.paid_at)],
      ["For", (t) => ticketLink(t)],
      ["Buyer", (t) => `@${t.buyer}`],
      ["Price", (t) => h("span", { class: "money" }, money(t.amount, t.currency))],
      ["You receive", (t) => h("span", { class: "money" }, money(t.amount - t.application_fee, t.currency))],
      ["Status", (t) => ticketStatusText(t.status)],
    ], sold) : empty("No tickets sold yet. Price an event or your live room to sell tickets.")));
  parts.push(section("Paid clubs", "wallet-clubs", (w.clubs || []).length ? table("Paid clubs", [
    ["Club", (c) => h("a", { href: `/clubs/${encodeURIComponent(c.slug)}/` }, c.name)],
    ["Subscribers", (c) => String(c.subscribers)],
    ["Per month", (c) => h("span", { class: "money" }, money(c.monthly, c.currency))],
  ], w.clubs) : empty("No paid club memberships. Leaders of an exclusive club you own can set a monthly price on its page.")));
  parts.push(section("Stipends", "wallet-stipends", (w.stipends || []).length ? table("Stipends", [
    ["Month", (s) => s.month],
    ["Amount", (s) => h("span", { class: "money" }, money(s.amount, s.currency))],
    ["Status", (s) => statusText(s.status)],
  ], w.stipends) : empty("No stipends.")));
  parts.push(section("Payouts to your bank", "wallet-payouts", (w.payouts || []).length ? table("Payouts to your bank", [
    ["Created", (p) => when(p.created)],
    ["Amount", (p) => h("span", { class: "money" }, money(p.amount, p.currency))],
    ["Status", (p) => statusText(p.status) + (p.failure_code ? ` (${p.failure_code.replaceAll("_", " ")})` : "")],
    ["Arrives", (p) => (p.arrival_date ? when(p.arrival_date, { dateStyle: "medium" }) : "—")],
  ], w.payouts) : empty("No payouts yet. Stripe pays your balance out on your account's schedule.")));
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
  return parts;
}

function ticketLink(t) {
  const title = t.title || (t.event_id ? `Event #${t.event_id}` : `Room #${t.room_id}`);
  if (t.event_id) return h("a", { href: `/events/${t.event_id}/` }, title);
  if (t.room_id) return h("a", { href: `/rooms/${t.room_id}/` }, title);
  return title;
}

function myTickets(tickets) {
  return section("My tickets", "wallet-my-tickets", tickets.length ? table("My tickets", [
    ["For", ticketLink],
    ["From", (t) => h("a", { href: `/u/${encodeURIComponent(t.creator)}/` }, `@${t.creator}`)],
    ["Price", (t) => h("span", { class: "money" }, money(t.amount, t.currency))],
    ["Status", (t) => ticketStatusText(t.status) + (t.failure_code ? ` (${t.failure_code.replaceAll("_", " ")})` : "")],
    ["Bought", (t) => when(t.paid_at || t.created)],
  ], tickets) : empty("No tickets. Priced rooms and events show a “Buy ticket” button."));
}

function mySubscriptions(subs) {
  const action = (text, cls, work) => {
    const button = h("button", { type: "button", class: cls }, text);
    button.addEventListener("click", () => busy(button, async () => {
      try { await work(); await load(); } catch (error) { reportError(error); }
    }));
    return button;
  };
  return section("My club memberships", "wallet-my-subscriptions", subs.length ? table("My club memberships", [
    ["Club", (s) => (s.club ? h("a", { href: `/clubs/${encodeURIComponent(s.club)}/` }, s.club_name) : "A deleted club")],
    ["Per month", (s) => h("span", { class: "money" }, money(s.amount, s.currency))],
    ["State", (s) => { const st = subscriptionState(s); return [h("span", { class: `pill ${st.pill}` }, st.label), " ", h("span", { class: "small" }, st.text)]; }],
    ["Manage", (s) => {
      if (!isLive(s) || s.status === "incomplete") return "";
      if (s.cancel_at_period_end) return action("Resume", "", async () => { await api(`payouts/subscriptions/${s.uuid}/resume/`, { method: "POST" }); toast("Your membership continues."); });
      return action("Cancel", "secondary", async () => {
        if (!(await confirmDialog({ title: `Cancel your membership of ${s.club_name || "this club"}?`, message: "You keep access until the end of the period you paid for, and are not charged again.", confirm: "Cancel membership", danger: true }))) return;
        await api(`payouts/subscriptions/${s.uuid}/cancel/`, { method: "POST" });
        toast("Cancelled: your access continues until the end of the period.");
      });
    }],
  ], subs) : empty("No club memberships. Exclusive clubs sell premium membership on their page."));
}

async function load() {
  const soft = (promise) => promise.catch((error) => { reportError(error); return null; });
  const [w, sales, tickets, subs] = await Promise.all([
    api("payouts/wallet/"),
    soft(api("payouts/ticket-sales/")),
    soft(api("payouts/tickets/")),
    soft(api("payouts/subscriptions/")),
  ]);
  fill(box, renderCreator(w, sales), myTickets((tickets && tickets.results) || []), mySubscriptions((subs && subs.results) || []));
  box.removeAttribute("aria-busy");
  box.querySelector("[data-onboarding]")?.addEventListener("click", async (event) => {
    event.target.disabled = true;
    try {
      const { url } = await api("payouts/connect/onboarding-link/", { method: "POST" });
      location.assign(url);
    } catch (error) { event.target.disabled = false; reportError(error); }
  });
}

load().catch((error) => { fill(box, empty(error.message)); reportError(error); });
