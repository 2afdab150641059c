// The message catalogs: same keys in English and Indonesian, every t("key") used in the code
// exists, and no visible text in JSX escapes the catalogs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, dirname } from "node:path";
import ts from "typescript";
import { fileURLToPath } from "node:url";

const src = join(dirname(fileURLToPath(import.meta.url)), "..", "src");
const en = JSON.parse(readFileSync(join(src, "i18n", "en.json"), "utf8"));
const id = JSON.parse(readFileSync(join(src, "i18n", "id.json"), "utf8"));
const walk = (d) => readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : [join(d, n)]));
const sources = walk(src).filter((f) => /\.tsx?$/.test(f)).map((f) => [f, readFileSync(f, "utf8")]);

test("both catalogs have the same keys", () => {
  assert.deepEqual(Object.keys(id).sort(), Object.keys(en).sort());
  for (const [k, v] of Object.entries(id)) assert.ok(v.trim(), `id.json: ${k} is empty`);
});

test("placeholders match between the catalogs", () => {
  const ph = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort().join(",");
  for (const k of Object.keys(en)) assert.equal(ph(id[k]), ph(en[k]), `placeholders differ in ${k}`);
});

test("every literal key used with t() exists", () => {
  const keys = new Set(Object.keys(en).map((k) => k.replace(/_(one|other|few|many|two|zero)$/, "")));
  for (const [file, text] of sources)
    for (const m of text.matchAll(/\bt\(\s*"([^"]+)"/g)) assert.ok(keys.has(m[1]) || m[1] in en, `${file}: unknown key ${m[1]}`);
});

test("no JSX text literal escapes the catalogs", () => {
  // Parsed with TypeScript itself: every JSX text node with a letter in it, and every literal
  // string given to a user-facing attribute, must come from t() instead.
  const allowed = new Set(["Ruang", "English", "Bahasa Indonesia"]);
  const attrs = new Set(["aria-label", "placeholder", "title", "alt", "aria-description"]);
  const bad = [];
  for (const [file, text] of sources) {
    if (!file.endsWith(".tsx")) continue;
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TSX);
    const visit = (node) => {
      if (ts.isJsxText(node)) {
        const s = node.text.trim();
        if (/\p{L}/u.test(s) && !allowed.has(s)) bad.push(`${file}: "${s}"`);
      } else if (ts.isJsxAttribute(node) && node.initializer && ts.isStringLiteral(node.initializer)) {
        const name = node.name.getText(sf);
        if (attrs.has(name) && /\p{L}/u.test(node.initializer.text)) bad.push(`${file}: ${name}="${node.initializer.text}"`);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  assert.deepEqual(bad, []);
});
