// Small DOM helpers shared by every page: build elements safely (text, never innerHTML from
// data), toasts, dialogs, avatars, money and dates.
import { ApiError, showFormErrors } from "./api.js";

/** h("a", {href, class: "x", onclick}, "text", child, ...) */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function toast(message, { kind = "info", timeout = 5000 } = {}) {
  const host = document.querySelector("[data-toasts]") || document.body;
  const close = h("button", { type: "button", "aria-label": "Dismiss" }, "×");
  const node = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, h("span", {}, message), close);
  close.addEventListener("click", () => node.remove());
  host.append(node);
  if (timeout) setTimeout(() => node.remove(), timeout);
  return node;
}

/** Report an error from api(): into the form when it names fields of it, else as a toast. */
export function reportError(error, form) {
  if (error && error.name === "AbortError") return;
  console.warn(error);
  if (form && error instanceof ApiError && showFormErrors(form, error)) return;
  toast(error?.message || "Something went wrong.", { kind: "error" });
}

/** A modal <dialog> with a title and body; focus moves in and returns on close. */
export function openDialog({ title, body, onClose } = {}) {
  const opener = document.activeElement;
  const heading = h("h2", { id: `dlg-${Math.random().toString(36).slice(2)}` }, title);
  const closeButton = h("button", { type: "button", class: "secondary", "data-close": true }, "Close");
  const dialog = h("dialog", { "aria-labelledby": heading.id },
    h("div", { class: "dialog-body" }, heading, body, h("div", { class: "actions" }, closeButton)));
  closeButton.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (opener && opener.focus) opener.focus();
    if (onClose) onClose(dialog.returnValue);
  });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

/** Resolves true when the person confirms. */
export function confirmDialog({ title, message, confirm = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    let answer = false;
    const yes = h("button", { type: "button", class: danger ? "danger" : "" }, confirm);
    const dialog = openDialog({ title, body: h("p", {}, message), onClose: () => resolve(answer) });
    dialog.querySelector(".actions").prepend(yes);
    yes.addEventListener("click", () => { answer = true; dialog.close(); });
    yes.focus();
  });
}

export function avatar(user, size = "") {
  const name = user?.name || user?.display_name || user?.username || "?";
  const url = user?.avatar_url || user?.avatar;
  if (url) return h("img", { class: `avatar ${size}`, src: url, alt: "", loading: "lazy" });
  return h("span", { class: `avatar initials ${size}`, "aria-hidden": "true" }, name.trim().charAt(0).toUpperCase());
}

export function userLink(user) {
  return h("a", { href: `/u/${encodeURIComponent(user.username)}/` }, user.name || user.display_name || user.username);
}

const EXPONENT = { JPY: 0, KRW: 0, VND: 0, CLP: 0, ISK: 0, UGX: 0, XOF: 0, XAF: 0, BHD: 3, KWD: 3, OMR: 3, JOD: 3, TND: 3 };

/** Integer minor units -> "$12.50" (never floats for arithmetic; only for display). */
export function money(minor, currency = "usd") {
  const code = String(currency || "usd").toUpperCase();
  const exponent = EXPONENT[code] ?? 2;
  const value = Number(minor || 0) / 10 ** exponent;
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: code, minimumFractionDigits: exponent, maximumFractionDigits: exponent }).format(value);
  } catch {
    return `${value.toFixed(exponent)} ${code}`;
  }
}

/** "12.50" typed by a person -> 1250 minor units, or NaN. */
export function parseMoney(text, currency = "usd") {
  const exponent = EXPONENT[String(currency).toUpperCase()] ?? 2;
  const match = String(text).trim().match(/^(\d+)(?:[.,](\d*))?$/);
  if (!match) return NaN;
  const fraction = (match[2] || "").padEnd(exponent, "0");
  if (fraction.length > exponent) return NaN;
  return Number(match[1]) * 10 ** exponent + Number(fraction || 0);
}

export function when(iso, options = { dateStyle: "medium", timeStyle: "short" }) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(undefined, options).format(new Date(iso));
}

export function timeAgo(iso) {
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  const steps = [[60, "second"], [60, "minute"], [24, "hour"], [7, "day"], [4.35, "week"], [12, "month"], [Infinity, "year"]];
  let value = -seconds;
  for (const [size, unit] of steps) {
    if (Math.abs(value) < size) return rtf.format(Math.round(value), unit);
    value /= size;
  }
  return "";
}

/** Replace a container's children (a list that re-renders). */
export function fill(container, ...children) {
  container.replaceChildren(...children.flat(Infinity).filter(Boolean));
  return container;
}

export function empty(text) {
  return h("p", { class: "empty" }, text);
}

/** Disable a submit button while `work` runs. */
export async function busy(button, work) {
  const was = button?.disabled;
  if (button) { button.disabled = true; button.setAttribute("aria-busy", "true"); }
  try { return await work(); } finally {
    if (button) { button.disabled = was; button.removeAttribute("aria-busy"); }
  }
}

/** The JSON blob a template rendered into <script type="application/json" id=...>. */
export function pageData(id = "page-data") {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : {};
}
