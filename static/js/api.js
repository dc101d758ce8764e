// The one way the web client talks to the server: the same REST API (/api/v1/) the mobile
// apps use, authenticated by the session cookie, with Django's CSRF token on writes.
// Every failure becomes an ApiError carrying the API's stable error shape:
//   {"error": {"code", "message", "fields"}}

export const API = "/api/v1";

export class ApiError extends Error {
  constructor({ status = 0, code = "network_error", message, fields = {}, extra = {} }) {
    super(message || "Something went wrong.");
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.fields = fields || {};
    this.extra = extra;
  }
}

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && meta.content) return meta.content;
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function url(path, query) {
  const base = path.startsWith("/") ? path : `${API}/${path}`;
  if (!query) return base;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, value);
  }
  const qs = params.toString();
  return qs ? `${base}${base.includes("?") ? "&" : "?"}${qs}` : base;
}

/**
 * api("rooms/", {method: "POST", body: {...}}) -> parsed JSON (or null for 204).
 * `path` is relative to /api/v1/ unless it starts with "/". `body` may be a plain object
 * (sent as JSON) or a FormData (sent as multipart, e.g. a photo upload).
 */
export async function api(path, { method = "GET", body, query, signal, headers = {} } = {}) {
  const init = {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json", ...headers },
    signal,
  };
  if (method !== "GET" && method !== "HEAD") init.headers["X-CSRFToken"] = csrfToken();
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url(path, query), init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError({ message: "Could not reach the server. Check your connection." });
  }
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null) : null;
  if (response.ok) return data;
  const error = data && data.error ? data.error : null;
  if (error) {
    const { code, message, fields, ...extra } = error;
    throw new ApiError({ status: response.status, code, message, fields, extra });
  }
  // allauth's headless API answers {"status", "errors": [{message, code, param}]}
  if (data && Array.isArray(data.errors)) {
    const fields = {};
    for (const e of data.errors) if (e.param) (fields[e.param] ||= []).push(e.message);
    throw new ApiError({
      status: response.status,
      code: data.errors[0]?.code || "invalid",
      message: data.errors[0]?.message,
      fields,
    });
  }
  throw new ApiError({
    status: response.status,
    code: response.status === 403 ? "permission_denied" : "http_error",
    message: response.status >= 500 ? "Something went wrong on our side." : response.statusText,
  });
}

/** Every page of a paginated list ({count, next, results}), up to `max` items. */
export async function apiAll(path, { query, max = 500 } = {}) {
  const items = [];
  let next = url(path.startsWith("/") ? path : `${API}/${path}`, { limit: 100, ...query });
  while (next && items.length < max) {
    const page = await api(next);
    items.push(...(page.results || []));
    next = page.next ? new URL(page.next, location.origin).pathname + new URL(page.next, location.origin).search : null;
  }
  return items;
}

/** Mark a form's fields with the error's `fields` (aria-invalid + a message under each),
 *  and put anything that has no field in the form's [data-form-error] box. Returns true
 *  when something was shown inside the form. */
export function showFormErrors(form, error) {
  clearFormErrors(form);
  let shown = false;
  const general = [];
  for (const [name, messages] of Object.entries(error.fields || {})) {
    const text = [].concat(messages).map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join(" ");
    const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (!input) { general.push(text); continue; }
    const note = document.createElement("p");
    note.className = "field-error";
    note.id = `${input.id || name}-error`;
    note.dataset.fieldError = name;
    note.textContent = text;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", note.id);
    (input.closest("[data-field]") || input).insertAdjacentElement("afterend", note);
    if (!shown) input.focus();
    shown = true;
  }
  const box = form.querySelector("[data-form-error]");
  if (box) {
    const text = general.length ? general.join(" ") : shown ? "" : error.message;
    if (text) { box.textContent = text; box.hidden = false; shown = true; }
  }
  return shown;
}

export function clearFormErrors(form) {
  form.querySelectorAll("[data-field-error]").forEach((node) => node.remove());
  form.querySelectorAll('[aria-invalid="true"]').forEach((node) => {
    node.removeAttribute("aria-invalid");
    node.removeAttribute("aria-describedby");
  });
  const box = form.querySelector("[data-form-error]");
  if (box) { box.textContent = ""; box.hidden = true; }
}
