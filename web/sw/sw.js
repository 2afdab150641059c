// Ruang's service worker. It precaches the app shell (index.html, the hashed assets, the
// offline page, icons) and serves it when the network is down. It never caches /api/ (private
// data) nor touches the WebSocket. The precache list and the version are filled in by
// scripts/postbuild.mjs.
const VERSION = "__VERSION__";
const PRECACHE = __PRECACHE__;
const CACHE = `ruang-shell-${VERSION}`;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("ruang-shell-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/") || url.pathname === "/healthz") return; // never cached
  if (req.mode === "navigate") {
    // Network first, so a new version shows at once; the offline page when that fails.
    event.respondWith(fetch(req).catch(() => caches.match("/offline.html", { cacheName: CACHE })));
    return;
  }
  if (PRECACHE.includes(url.pathname)) {
    event.respondWith(caches.match(url.pathname, { cacheName: CACHE }).then((hit) => hit || fetch(req)));
  }
});
