// Settings: e-mail switches (PATCH /api/v1/me/notification-settings/), Web Push on this
// device, and a creator's own Send Money switch (/api/v1/payouts/creator/send-money/). Push permission is asked only when the person presses the button (browsers ignore or
// punish a prompt nobody asked for), after the explainer next to it.
import { api } from "../api.js";
import { fill, reportError, toast } from "../ui.js";

const emailStatus = document.querySelector("[data-email-status]");
for (const box of document.querySelectorAll("[data-email-setting]")) {
  box.addEventListener("change", async () => {
    box.disabled = true;
    try {
      const saved = await api("me/notification-settings/", { method: "PATCH", body: { [box.name]: box.checked } });
      box.checked = saved[box.name];
      emailStatus.textContent = "Saved.";
    } catch (error) {
      box.checked = !box.checked;
      reportError(error);
    } finally {
      box.disabled = false;
    }
  });
}

const push = document.querySelector("[data-push]");
const on = push?.querySelector("[data-push-on]");
const off = push?.querySelector("[data-push-off]");
const pushStatus = push?.querySelector("[data-push-status]");

function say(text) { pushStatus.textContent = text; }

function showSubscribed(subscribed) {
  on.hidden = subscribed;
  off.hidden = !subscribed;
}

function base64urlToBytes(text) {
  const padded = text.replaceAll("-", "+").replaceAll("_", "/") + "=".repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

async function registration() {
  await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  return navigator.serviceWorker.ready;
}

let serverKey = null; // {enabled, public_key} once fetched

async function subscribe() {
  // Asked first, straight from the click: the browser ties its prompt to the person's gesture.
  const permission = await Notification.requestPermission();
  if (permission !== "granted") {
    say(permission === "denied" ? "Notifications are blocked for this site in your browser's settings." : "Not turned on.");
    return;
  }
  serverKey = serverKey || (await api("push/key/"));
  if (!serverKey.enabled) {
    say("Push notifications are not set up on this server.");
    return;
  }
  const reg = await registration();
  const subscription = (await reg.pushManager.getSubscription())
    || (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64urlToBytes(serverKey.public_key) }));
  const json = subscription.toJSON();
  await api("me/push-subscriptions/", { method: "POST", body: { endpoint: json.endpoint, keys: json.keys } });
  showSubscribed(true);
  say("Push notifications are on for this device.");
}

async function unsubscribe() {
  const subscription = await (await registration()).pushManager.getSubscription();
  if (subscription) {
    await api("me/push-subscriptions/unsubscribe/", { method: "POST", body: { endpoint: subscription.endpoint } });
    await subscription.unsubscribe();
  }
  showSubscribed(false);
  say("Push notifications are off for this device.");
}

function onClick(button, action) {
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await action();
    } catch (error) {
      reportError(error);
    } finally {
      button.disabled = false;
    }
  });
}

async function setUp() {
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    on.disabled = true;
    say("This browser cannot receive push notifications.");
    return;
  }
  onClick(on, subscribe);
  onClick(off, unsubscribe);
  serverKey = await api("push/key/");
  if (!serverKey.enabled) {
    on.disabled = true;
    say("Push notifications are not set up on this server.");
    return;
  }
  if (Notification.permission === "denied") say("Notifications are blocked for this site in your browser's settings.");
  const current = await (await registration()).pushManager.getSubscription();
  showSubscribed(Boolean(current) && Notification.permission === "granted");
}

if (push) setUp().catch(reportError);

// A creator's own Send Money switch (only on a creator's settings page).
const box = document.querySelector("[data-send-money-settings]");
const input = box?.querySelector("[data-send-money-on]");
const status = box?.querySelector("[data-send-money-status]");

input?.addEventListener("change", async () => {
  const wanted = input.checked;
  input.disabled = true;
  try {
    const state = await api("payouts/creator/send-money/", { method: "PUT", body: { on: wanted } });
    input.checked = state.on;
    fill(status, state.can_receive_money ? "Listeners can send you money now." : "Listeners cannot send you money right now.");
    toast(state.on ? "Send Money is on." : "Send Money is off: the button is gone from your profile.");
  } catch (error) {
    input.checked = !wanted;
    reportError(error);
  } finally {
    input.disabled = false;
  }
});
