// The offline page (served by the service worker when a page cannot load): back online, reload.
window.addEventListener("online", () => window.location.reload());
