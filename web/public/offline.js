// The offline page (served by the service worker when a navigation fails): back when online.
addEventListener("online", () => location.reload());
