import { defineConfig } from "vite";

// Production build: hashed assets under /assets/ (served with a one-year immutable cache),
// no inline scripts or styles (the server's Content-Security-Policy forbids them).
export default defineConfig({
  base: "/",
  build: {
    target: "es2022",
    outDir: "dist",
    assetsDir: "assets",
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: true,
  },
  server: {
    // `npm run dev`: the API of a Ruang server on 8470 (the WebSocket URL comes from it).
    proxy: { "/api": "http://127.0.0.1:8470" },
  },
});
