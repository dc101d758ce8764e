{% autoescape off %}// Clubhouse's service worker (clubhouse/pwa.py serves it at /sw.js, scope "/").
// - offline: a page that cannot load shows the offline page, cached at install;
// - push: shows the notification a Web Push carries ({title, body, url, tag});
// - a click on it focuses a tab already on that page, or opens one.
// Nothing else is cached: rooms are live, and the API and sockets always go to the network.
const CACHE = {{ cache_name }};
const OFFLINE_URL = {{ offline_url }};
const PRECACHE = {{ precache }};
const ICON = {{ icon }};

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("clubhouse-") && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE_URL)));
    return;
  }
  if (PRECACHE.includes(new URL(request.url).pathname)) {
    event.respondWith(fetch(request).catch(() => caches.match(request)));
  }
});

self.addEventListener("push", (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch {
    message = { body: event.data ? event.data.text() : "" };
  }
  const url = typeof message.url === "string" && message.url.startsWith("/") ? message.url : "/notifications/";
  event.waitUntil(self.registration.showNotification(message.title || "Clubhouse", {
    body: message.body || "",
    tag: message.tag || undefined,
    icon: ICON,
    badge: ICON,
    data: { url },
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL((event.notification.data && event.notification.data.url) || "/", self.location.origin);
  if (target.origin !== self.location.origin) return;
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
    const open = windows.find((w) => new URL(w.url).pathname === target.pathname);
    if (open) return open.focus();
    return self.clients.openWindow(target.href);
  }));
});
{% endautoescape %}
