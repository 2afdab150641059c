// Draws the app's PNG icons (the same picture as public/icons/icon.svg: four rounded bars on
// a rounded square) with nothing but node's zlib, so the build downloads nothing.
import { deflateSync } from "node:zlib";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const out = join(dirname(fileURLToPath(import.meta.url)), "..", "public", "icons");
const BG = [0x0f, 0x76, 0x6e];
const FG = [0xff, 0xff, 0xff];
const BARS = [[118, 206, 44, 100], [190, 146, 44, 220], [262, 110, 44, 292], [334, 170, 44, 172]];

const inRoundRect = (x, y, rx, ry, w, h, r) => {
  if (x < rx || y < ry || x > rx + w || y > ry + h) return false;
  const cx = Math.min(Math.max(x, rx + r), rx + w - r);
  const cy = Math.min(Math.max(y, ry + r), ry + h - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
};

function draw(size, maskable) {
  const s = 512 / size;
  const px = Buffer.alloc(size * size * 4);
  const SS = 4; // supersampling per axis, for smooth edges
  // A maskable icon fills the whole square and keeps its picture in the inner 80 %.
  const scale = maskable ? 0.7 : 1;
  const off = (512 - 512 * scale) / 2;
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      let bg = 0, fg = 0;
      for (let j = 0; j < SS; j++)
        for (let i = 0; i < SS; i++) {
          const X = (x + (i + 0.5) / SS) * s, Y = (y + (j + 0.5) / SS) * s;
          const inBg = maskable || inRoundRect(X, Y, 0, 0, 512, 512, 112);
          if (!inBg) continue;
          bg++;
          const u = (X - off) / scale, v = (Y - off) / scale;
          if (BARS.some(([bx, by, bw, bh]) => inRoundRect(u, v, bx, by, bw, bh, 22))) fg++;
        }
      const n = SS * SS, a = bg / n, f = bg ? fg / bg : 0, o = (y * size + x) * 4;
      for (let c = 0; c < 3; c++) px[o + c] = Math.round(BG[c] * (1 - f) + FG[c] * f);
      px[o + 3] = Math.round(a * 255);
    }
  return png(size, size, px);
}

const CRC = new Int32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});
const crc32 = (buf) => {
  let c = -1;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
};
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
function png(w, h, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; ihdr[9] = 6; // 8-bit RGBA
  const raw = Buffer.alloc((w * 4 + 1) * h);
  for (let y = 0; y < h; y++) rgba.copy(raw, y * (w * 4 + 1) + 1, y * w * 4, (y + 1) * w * 4);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw, { level: 9 })), chunk("IEND", Buffer.alloc(0))]);
}

mkdirSync(out, { recursive: true });
writeFileSync(join(out, "icon-192.png"), draw(192, false));
writeFileSync(join(out, "icon-512.png"), draw(512, false));
writeFileSync(join(out, "maskable-512.png"), draw(512, true));
