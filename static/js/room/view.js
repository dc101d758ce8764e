// DOM helpers for the room page: keyed lists that update in place (so an open menu or the
// focused button survives an update), person cards, toasts and the live region.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/**
 * Make `ul`'s children match `items`, reusing the element of each key.
 * create(item) -> element; update(element, item) refreshes it.
 */
export function renderKeyed(ul, items, key, create, update) {
  const existing = new Map();
  for (const el of ul.children) existing.set(el.dataset.key, el);
  const wanted = [];
  for (const item of items) {
    const k = String(key(item));
    let el = existing.get(k);
    if (!el) {
      el = create(item);
      el.dataset.key = k;
    }
    existing.delete(k);
    update(el, item);
    wanted.push(el);
  }
  for (const el of existing.values()) el.remove();
  // Move only what is out of place: moving a focused node would drop its focus.
  wanted.forEach((el, i) => {
    if (ul.children[i] !== el) ul.insertBefore(el, ul.children[i] || null);
  });
}

export function initials(user) {
  const name = (user && (user.name || user.username)) || "?";
  const parts = name.trim().split(/\s+/).slice(0, 2);
  return parts.map((p) => p[0].toUpperCase()).join("");
}

export function avatar(user, size = "") {
  const wrap = h("span", { class: `avatar ${size}`, "aria-hidden": "true" });
  if (user.avatar_url) wrap.append(h("img", { src: user.avatar_url, alt: "" }));
  else wrap.append(initials(user));
  return wrap;
}

export class Announcer {
  constructor(region) {
    this.region = region;
  }

  say(lines) {
    for (const line of lines) {
      // New nodes are announced by aria-live; old ones are pruned so the region stays small.
      this.region.append(h("p", {}, line));
      while (this.region.childElementCount > 5) this.region.firstElementChild.remove();
    }
  }
}

export class Toasts {
  constructor(container) {
    this.container = container;
  }

  show(content, { timeout = 6000 } = {}) {
    const toast = h("div", { class: "toast" }, content);
    this.container.append(toast);
    if (timeout) setTimeout(() => toast.remove(), timeout);
    return toast;
  }
}
