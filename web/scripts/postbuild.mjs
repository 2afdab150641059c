// After `vite build`: write dist/sw.js with the list of files to precache, and a .gz and .br
// copy of every compressible file (the server picks one by Accept-Encoding), and a stamp.
import { brotliCompressSync, gzipSync, constants } from "node:zlib";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}
const url = (p) => "/" + relative(dist, p).split(sep).join("/");

const files = walk(dist).filter((p) => !/\.(gz|br)$/.test(p));
const precache = files
  .map(url)
  .filter((u) => u !== "/sw.js" && u !== "/build-stamp" && !u.endsWith(".webmanifest"))
  .sort();
const hash = createHash("sha256");
for (const f of files.sort()) hash.update(readFileSync(f));
const version = hash.digest("hex").slice(0, 12);
const sw = readFileSync(join(root, "sw", "sw.js"), "utf8")
  .replace(/"__VERSION__"/g, JSON.stringify(version))
  .replace(/= __PRECACHE__;/, `= ${JSON.stringify(precache)};`);
writeFileSync(join(dist, "sw.js"), sw);

let gz = 0, br = 0;
for (const f of [...files, join(dist, "sw.js")]) {
  if (!/\.(js|css|html|svg|json|webmanifest|txt|ics)$/.test(f)) continue;
  const data = readFileSync(f);
  if (data.length < 512) continue;
  writeFileSync(f + ".gz", gzipSync(data, { level: 9 }));
  writeFileSync(f + ".br", brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
  gz++;
  br++;
}
console.log(`postbuild: sw.js (${precache.length} files precached, version ${version}); ${gz} .gz and ${br} .br`);
