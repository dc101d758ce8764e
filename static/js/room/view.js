// DOM helpers for the room page: keyed lists that update in place (so an open menu or the
// focused button survives an update) and the live region. Element building is ui.js's h().
import { h } from "../ui.js";

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
