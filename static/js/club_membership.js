// Paid (exclusive) clubs on the club page: the monthly price, "Subscribe" (the card flow is
// payment_card.js's), the member's subscription (active, past due, cancels at period end) with
// Cancel / Resume, and for leaders and admins the monthly price (set, change, stop selling).
// API: payouts/clubs/<slug>/plan/ (GET|PUT|DELETE), payouts/clubs/<slug>/subscribe/,
// payouts/subscriptions/ (+ <uuid>/, cancel/, resume/), clubs/<slug>/premium/.
import { api, clearFormErrors } from "./api.js";
import { awaitConfirmation, cardChooser, failureText } from "./payment_card.js";
import { openPriceDialog } from "./price_dialog.js";
import { busy, confirmDialog, fill, h, money, openDialog, reportError, toast, when } from "./ui.js";

const LIVE = new Set(["incomplete", "trialing", "active", "past_due", "unpaid", "paused"]);

/** One sentence for a subscription's state, as the member should read it. */
export function subscriptionState(sub) {
  const end = sub.current_period_end ? when(sub.current_period_end, { dateStyle: "medium" }) : null;
  if (sub.status === "active" || sub.status === "trialing") {
    if (sub.cancel_at_period_end) return { pill: "warn", label: "Cancels at period end", text: end ? `Your access continues until ${end}; you will not be charged again.` : "You will not be charged again." };
    return { pill: "ok", label: "Active", text: end ? `Renews on ${end}.` : "Renews monthly." };
  }
  if (sub.status === "past_due") return { pill: "warn", label: "Past due", text: "Your last payment failed. Stripe retries it; access continues for a short grace period. Update your card in the app to keep access." };
  if (sub.status === "incomplete") return { pill: "soft", label: "Waiting for payment", text: "The first payment is not confirmed yet (your bank may need to confirm it)." };
  if (sub.status === "unpaid" || sub.status === "paused") return { pill: "warn", label: "Unpaid", text: "Payments failed: premium access is paused." };
  if (sub.status === "canceled") return { pill: "soft", label: "Ended", text: sub.canceled_at ? `Ended on ${when(sub.canceled_at, { dateStyle: "medium" })}.` : "Ended." };
  return { pill: "soft", label: sub.status.replaceAll("_", " "), text: "" };
}

export function isLive(sub) {
  return LIVE.has(sub.status);
}

/** The club's active plan ({amount, currency}) or null; read through payouts/prices/ so a
 * club without a plan is not a 404. */
async function planOf(slug) {
  const { clubs } = await api("payouts/prices/", { query: { clubs: slug } });
  return clubs[slug] || null;
}

async function mySubscription(slug) {
  const { results } = await api("payouts/subscriptions/");
  const mine = results.filter((sub) => sub.club === slug);
  return mine.find(isLive) || mine[0] || null;
}

/**
 * Draw the membership box of an exclusive club (or of any club with a plan) into `box`.
 * `reload()` redraws the whole club page (premium access opens members-only events).
 */
export async function renderMembership(club, box, reload) {
  const slug = club.slug;
  const role = club.viewer.role;
  const leader = role === "admin" || role === "leader";
  if (!club.is_exclusive) { box.hidden = true; return; } // only exclusive clubs sell memberships
  const [plan, sub] = await Promise.all([planOf(slug), role ? mySubscription(slug).catch(() => null) : null]);
  const parts = [h("h2", { id: "club-plan-heading" }, "Premium membership")];
  if (plan) {
    parts.push(h("p", { class: "price" }, h("strong", { class: "money", "data-plan-price": true }, money(plan.amount, plan.currency)), h("span", { class: "muted" }, " / month")));
  } else {
    parts.push(h("p", { class: "muted" }, "This club does not sell memberships yet."));
  }
  // Who gets in, and why not.
  if (club.viewer.premium_access) {
    parts.push(h("p", { "data-premium-access": "yes" }, "You have premium access: the club's members-only rooms and events are open to you."));
  } else if (!role) {
    parts.push(h("p", { "data-premium-access": "no" }, "The members-only rooms and events of this exclusive club are for members with premium membership. Join the club first, then subscribe."));
  } else {
    parts.push(h("p", { "data-premium-access": "no" }, plan
      ? "The members-only rooms and events of this exclusive club need premium membership. Subscribe to join them."
      : "The members-only rooms and events of this exclusive club need premium membership, which a club admin grants."));
  }
  const actions = [];
  if (sub && isLive(sub)) {
    const state = subscriptionState(sub);
    parts.push(h("p", { "data-subscription-state": sub.status },
      h("span", { class: `pill ${state.pill}` }, state.label), " ",
      `${money(sub.amount, sub.currency)} / month. ${state.text}`));
    if (sub.cancel_at_period_end) {
      actions.push(button("Resume", "", async () => {
        await api(`payouts/subscriptions/${sub.uuid}/resume/`, { method: "POST" });
        toast("Your membership continues.");
      }, reload));
    } else if (sub.status !== "incomplete") {
      actions.push(button("Cancel membership", "secondary", async () => {
        const ok = await confirmDialog({ title: `Cancel your membership of ${club.name}?`, message: "You keep premium access until the end of the period you paid for, and are not charged again.", confirm: "Cancel membership", danger: true });
        if (!ok) return;
        await api(`payouts/subscriptions/${sub.uuid}/cancel/`, { method: "POST" });
        toast("Cancelled: your access continues until the end of the period.");
      }, reload));
    }
  }
  const subscribable = plan && role && (!sub || !isLive(sub) || sub.status === "incomplete");
  if (subscribable && !club.viewer.premium_access) {
    const subscribe = h("button", { type: "button" }, sub && sub.status === "incomplete" ? "Finish subscribing" : "Subscribe");
    subscribe.addEventListener("click", () => openSubscribe({ club, plan, onActive: reload }).catch(reportError));
    actions.push(subscribe);
  }
  if (leader) {
    const price = h("button", { type: "button", class: "secondary" }, plan ? "Change monthly price" : "Set a monthly price");
    price.addEventListener("click", () => openPlanPrice({ club, plan, onSaved: reload }));
    actions.push(price);
    if (plan) {
      actions.push(button("Stop selling", "secondary", async () => {
        const ok = await confirmDialog({ title: "Stop selling memberships?", message: "Nobody can subscribe any more. Current subscriptions continue until their members cancel them.", confirm: "Stop selling", danger: true });
        if (!ok) return;
        await api(`payouts/clubs/${encodeURIComponent(slug)}/plan/`, { method: "DELETE" });
        toast("Memberships are no longer sold.");
      }, reload));
    }
  }
  parts.push(h("div", { class: "actions" }, actions));
  fill(box, parts);
  box.hidden = false;
}

function button(label, cls, work, after) {
  const node = h("button", { type: "button", class: cls }, label);
  node.addEventListener("click", () => busy(node, async () => {
    try { await work(); await after(); } catch (error) { reportError(error); }
  }));
  return node;
}

/** The "Subscribe" dialog: price, card, then the subscription's answer. */
export async function openSubscribe({ club, plan, onActive }) {
  // The price shown is the price paid: it goes with the request, and a price changed in the
  // meantime is a 409 `price_changed` carrying the new one, shown here for the member to confirm.
  let shown = { amount: plan.amount, currency: plan.currency };
  const price = `${money(plan.amount, plan.currency)} / month`;
  const status = h("div", { role: "status", "aria-live": "polite", "data-subscription-status": true });
  const submit = h("button", { type: "submit" }, `Subscribe · ${price}`);
  const card = cardChooser({ submit, name: "club_payment_method" });
  const priceText = h("dd", { class: "money total", "data-subscribe-price": true }, money(plan.amount, plan.currency));
  const form = h("form", { novalidate: true, "data-subscribe-form": true },
    h("div", { class: "form-error", "data-form-error": true, role: "alert", hidden: true }),
    h("p", {}, "Premium membership of ", h("strong", {}, club.name), ": its members-only rooms and events."),
    h("div", { class: "quote" }, h("dl", {}, h("dt", { class: "total" }, "Every month"), priceText)),
    h("p", { class: "small" }, "Charged today and then monthly. Cancel any time: you keep access until the end of the period you paid for."),
    card.element, status,
    h("div", { class: "actions" }, submit));

  let finished = false;
  function done(sub) {
    if (sub.status === "active" || sub.status === "trialing") {
      finished = true;
      submit.disabled = true;
      submit.textContent = "Subscribed ✓";
      fill(status, h("p", { class: "quote" }, h("strong", {}, `Welcome! You are a premium member of ${club.name}.`)));
      if (onActive) onActive(sub);
    } else if (sub.requires_action || sub.status === "incomplete") {
      awaitConfirmation(status, {
        fetch: () => api(`payouts/subscriptions/${sub.uuid}/`),
        pending: (fresh) => fresh.status === "incomplete",
        done,
        alive: () => dialog.open,
        clientSecret: sub.client_secret,
      });
    } else {
      fill(status, h("p", { class: "form-error" }, `The subscription did not start${failureText(sub.failure_code)}: ${subscriptionState(sub).label.toLowerCase()}.`));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (finished) return;
    clearFormErrors(form);
    fill(status);
    await busy(submit, async () => {
      try {
        const method = await card.paymentMethod();
        // The server makes one live subscription per member and club: a double click or a
        // retry returns the same one (and never charges twice).
        done(await api(`payouts/clubs/${encodeURIComponent(club.slug)}/subscribe/`, {
          method: "POST", body: { ...shown, ...(method ? { payment_method: method } : {}) },
        }));
      } catch (error) {
        if (error.code === "price_changed" && error.extra?.price) {
          const before = money(shown.amount, shown.currency);
          shown = { amount: error.extra.price.amount, currency: error.extra.price.currency };
          const now = money(shown.amount, shown.currency);
          priceText.textContent = now;
          submit.textContent = `Subscribe · ${now} / month`;
          error.message = `The monthly price changed from ${before} to ${now}. Nothing was charged. Press "Subscribe · ${now} / month" to subscribe at the new price.`;
        } else {
          card.refused(error);
        }
        reportError(error, form);
      }
    });
    if (finished) submit.disabled = true;
  });
  const dialog = openDialog({ title: `Subscribe to ${club.name}`, body: form });
  await card.ready;
  if (!finished) submit.focus();
  return dialog;
}

/** Leaders and admins: the monthly price (PUT payouts/clubs/<slug>/plan/). */
function openPlanPrice({ club, plan, onSaved }) {
  return openPriceDialog({
    id: "plan",
    title: "Monthly price",
    label: "Monthly price",
    intro: "Members pay this every month for premium access. It is paid to the club's owner (an approved creator with payouts set up); the platform keeps a share.",
    note: "A new price applies to new subscriptions; current members keep theirs.",
    current: plan,
    submitLabel: "Save price",
    example: 9,
    save: async (minor, code) => {
      const saved = await api(`payouts/clubs/${encodeURIComponent(club.slug)}/plan/`, { method: "PUT", body: { amount: minor, currency: code } });
      toast(`Membership costs ${money(saved.amount, saved.currency)} a month.`);
      if (onSaved) await onSaved(saved);
    },
  });
}
