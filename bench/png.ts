// A tiny PNG plotter with no dependencies beyond node's zlib: an RGB canvas,
// lines, rectangles, a 5x7 bitmap font, and three chart kinds (grouped bars,
// lines with a linear or log x axis). Enough for the bench's figures; no
// browser, no gnuplot.
import { deflateSync } from "node:zlib";

export type RGB = readonly [number, number, number];

/** Series colours (colour-blind friendly, Okabe-Ito). */
export const PALETTE: readonly RGB[] = [
  [0, 114, 178], // blue
  [230, 159, 0], // orange
  [0, 158, 115], // green
  [204, 121, 167], // purple
  [86, 180, 233], // sky
  [213, 94, 0], // vermillion
  [240, 228, 66], // yellow
  [0, 0, 0],
];
const BLACK: RGB = [0, 0, 0];
const LIGHT: RGB = [225, 225, 225];
const WHITE: RGB = [255, 255, 255];

// ------------------------------------------------------------------ PNG encoding

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** An 8-bit RGB image. */
export class Canvas {
  readonly pixels: Uint8Array;
  constructor(readonly width: number, readonly height: number, background: RGB = WHITE) {
    this.pixels = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) this.pixels.set(background, i * 3);
  }

  set(x: number, y: number, c: RGB): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    this.pixels.set(c, (y * this.width + x) * 3);
  }

  rect(x0: number, y0: number, x1: number, y1: number, c: RGB): void {
    const [xa, xb] = [Math.round(Math.min(x0, x1)), Math.round(Math.max(x0, x1))];
    const [ya, yb] = [Math.round(Math.min(y0, y1)), Math.round(Math.max(y0, y1))];
    for (let y = ya; y <= yb; y++) for (let x = xa; x <= xb; x++) this.set(x, y, c);
  }

  /** A line `width` pixels thick (Bresenham with a square brush); dashed when dash > 0. */
  line(x0: number, y0: number, x1: number, y1: number, c: RGB, width = 1, dash = 0): void {
    x0 = Math.round(x0); y0 = Math.round(y0); x1 = Math.round(x1); y1 = Math.round(y1);
    const dx = Math.abs(x1 - x0);
    const dy = -Math.abs(y1 - y0);
    const sx = x0 < x1 ? 1 : -1;
    const sy = y0 < y1 ? 1 : -1;
    let err = dx + dy;
    const r0 = -Math.floor((width - 1) / 2);
    for (let step = 0; ; step++) {
      if (!dash || Math.floor(step / dash) % 2 === 0) {
        for (let oy = r0; oy < r0 + width; oy++) for (let ox = r0; ox < r0 + width; ox++) this.set(x0 + ox, y0 + oy, c);
      }
      if (x0 === x1 && y0 === y1) break;
      const e2 = 2 * err;
      if (e2 >= dy) { err += dy; x0 += sx; }
      if (e2 <= dx) { err += dx; y0 += sy; }
    }
  }

  /** Text in the 5x7 font; (x, y) is the top-left corner unless align says otherwise. */
  text(x: number, y: number, s: string, c: RGB = BLACK, scale = 1, align: "left" | "center" | "right" = "left"): void {
    const w = textWidth(s, scale);
    let cx = Math.round(align === "left" ? x : align === "center" ? x - w / 2 : x - w);
    for (const ch of s) {
      const g = glyph(ch);
      for (let row = 0; row < 7; row++) {
        for (let col = 0; col < 5; col++) {
          if (g[row] & (1 << (4 - col))) this.rect(cx + col * scale, y + row * scale, cx + col * scale + scale - 1, y + row * scale + scale - 1, c);
        }
      }
      cx += 6 * scale;
    }
  }

  /** Text turned 90° counter-clockwise (reads bottom to top), centred on (x, y). */
  textUp(x: number, y: number, s: string, c: RGB = BLACK, scale = 1): void {
    const w = textWidth(s, scale);
    let cy = Math.round(y + w / 2);
    for (const ch of s) {
      const g = glyph(ch);
      for (let row = 0; row < 7; row++) {
        for (let col = 0; col < 5; col++) {
          if (g[row] & (1 << (4 - col))) this.rect(x + row * scale, cy - col * scale - scale + 1, x + row * scale + scale - 1, cy - col * scale, c);
        }
      }
      cy -= 6 * scale;
    }
  }

  png(): Buffer {
    const stride = this.width * 3;
    const raw = Buffer.alloc((stride + 1) * this.height);
    for (let y = 0; y < this.height; y++) {
      raw[y * (stride + 1)] = 0; // filter: none
      Buffer.from(this.pixels.buffer, this.pixels.byteOffset + y * stride, stride).copy(raw, y * (stride + 1) + 1);
    }
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(this.width, 0);
    ihdr.writeUInt32BE(this.height, 4);
    ihdr[8] = 8; // bit depth
    ihdr[9] = 2; // colour type: RGB
    ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
    return Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk("IHDR", ihdr),
      chunk("IDAT", deflateSync(raw, { level: 9 })),
      chunk("IEND", Buffer.alloc(0)),
    ]);
  }
}

// ------------------------------------------------------------------ font

// 5x7 glyphs, one string per character: 7 rows of 5 pixels ("#" on).
// Lower-case letters are drawn as small capitals (the upper-case glyph).
const FONT_SRC: Record<string, string> = {
  " ": ".....|.....|.....|.....|.....|.....|.....",
  "0": ".###.|#...#|#..##|#.#.#|##..#|#...#|.###.",
  "1": "..#..|.##..|..#..|..#..|..#..|..#..|.###.",
  "2": ".###.|#...#|....#|...#.|..#..|.#...|#####",
  "3": "#####|...#.|..#..|...#.|....#|#...#|.###.",
  "4": "...#.|..##.|.#.#.|#..#.|#####|...#.|...#.",
  "5": "#####|#....|####.|....#|....#|#...#|.###.",
  "6": "..##.|.#...|#....|####.|#...#|#...#|.###.",
  "7": "#####|....#|...#.|..#..|.#...|.#...|.#...",
  "8": ".###.|#...#|#...#|.###.|#...#|#...#|.###.",
  "9": ".###.|#...#|#...#|.####|....#|...#.|.##..",
  A: ".###.|#...#|#...#|#####|#...#|#...#|#...#",
  B: "####.|#...#|#...#|####.|#...#|#...#|####.",
  C: ".###.|#...#|#....|#....|#....|#...#|.###.",
  D: "###..|#..#.|#...#|#...#|#...#|#..#.|###..",
  E: "#####|#....|#....|####.|#....|#....|#####",
  F: "#####|#....|#....|####.|#....|#....|#....",
  G: ".###.|#...#|#....|#.###|#...#|#...#|.####",
  H: "#...#|#...#|#...#|#####|#...#|#...#|#...#",
  I: ".###.|..#..|..#..|..#..|..#..|..#..|.###.",
  J: "..###|...#.|...#.|...#.|...#.|#..#.|.##..",
  K: "#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#",
  L: "#....|#....|#....|#....|#....|#....|#####",
  M: "#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#",
  N: "#...#|#...#|##..#|#.#.#|#..##|#...#|#...#",
  O: ".###.|#...#|#...#|#...#|#...#|#...#|.###.",
  P: "####.|#...#|#...#|####.|#....|#....|#....",
  Q: ".###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#",
  R: "####.|#...#|#...#|####.|#.#..|#..#.|#...#",
  S: ".####|#....|#....|.###.|....#|....#|####.",
  T: "#####|..#..|..#..|..#..|..#..|..#..|..#..",
  U: "#...#|#...#|#...#|#...#|#...#|#...#|.###.",
  V: "#...#|#...#|#...#|#...#|#...#|.#.#.|..#..",
  W: "#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#.",
  X: "#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#",
  Y: "#...#|#...#|.#.#.|..#..|..#..|..#..|..#..",
  Z: "#####|....#|...#.|..#..|.#...|#....|#####",
  ".": ".....|.....|.....|.....|.....|.##..|.##..",
  ",": ".....|.....|.....|.....|.##..|..#..|.#...",
  ":": ".....|.##..|.##..|.....|.##..|.##..|.....",
  ";": ".....|.##..|.##..|.....|.##..|..#..|.#...",
  "-": ".....|.....|.....|#####|.....|.....|.....",
  "+": ".....|..#..|..#..|#####|..#..|..#..|.....",
  "=": ".....|.....|#####|.....|#####|.....|.....",
  "/": ".....|....#|...#.|..#..|.#...|#....|.....",
  "%": "##...|##..#|...#.|..#..|.#...|#..##|...##",
  "(": "...#.|..#..|.#...|.#...|.#...|..#..|...#.",
  ")": ".#...|..#..|...#.|...#.|...#.|..#..|.#...",
  "[": ".###.|.#...|.#...|.#...|.#...|.#...|.###.",
  "]": ".###.|...#.|...#.|...#.|...#.|...#.|.###.",
  "<": "...#.|..#..|.#...|#....|.#...|..#..|...#.",
  ">": ".#...|..#..|...#.|....#|...#.|..#..|.#...",
  "_": ".....|.....|.....|.....|.....|.....|#####",
  "'": "..#..|..#..|.#...|.....|.....|.....|.....",
  '"': ".#.#.|.#.#.|.....|.....|.....|.....|.....",
  "!": "..#..|..#..|..#..|..#..|..#..|.....|..#..",
  "?": ".###.|#...#|....#|...#.|..#..|.....|..#..",
  "*": ".....|..#..|#.#.#|.###.|#.#.#|..#..|.....",
  "#": ".#.#.|.#.#.|#####|.#.#.|#####|.#.#.|.#.#.",
  "&": ".##..|#..#.|#.#..|.#...|#.#.#|#..#.|.##.#",
  "@": ".###.|#...#|#.###|#.#.#|#.###|#....|.###.",
  "~": ".....|.....|.#...|#.#.#|...#.|.....|.....",
  "|": "..#..|..#..|..#..|..#..|..#..|..#..|..#..",
  "±": "..#..|..#..|#####|..#..|..#..|.....|#####",
  "×": ".....|#...#|.#.#.|..#..|.#.#.|#...#|.....",
  "≤": "...#.|..#..|.#...|..#..|...#.|.....|#####",
  "≥": ".#...|..#..|...#.|..#..|.#...|.....|#####",
};
const FONT = new Map<string, number[]>(
  Object.entries(FONT_SRC).map(([ch, src]) => [ch, src.split("|").map((row) => parseInt(row.replace(/#/g, "1").replace(/\./g, "0"), 2))]),
);
const UNKNOWN = FONT.get("?")!;

function glyph(ch: string): number[] {
  return FONT.get(ch) ?? FONT.get(ch.toUpperCase()) ?? UNKNOWN;
}

export function textWidth(s: string, scale = 1): number {
  return Math.max(0, [...s].length * 6 - 1) * scale;
}

// ------------------------------------------------------------------ axes

/** Round tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten. */
export function niceTicks(lo: number, hi: number, target = 6): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  // From at or below lo up to the first tick at or above hi.
  const out: number[] = [];
  for (let v = Math.floor(lo / step) * step; ; v += step) {
    out.push(Number(v.toPrecision(12)));
    if (v >= hi - step * 1e-9) break;
  }
  return out;
}

export function formatTick(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  return String(+v.toPrecision(4));
}

interface Frame {
  c: Canvas;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

function frame(width: number, height: number, title: string, yLabel: string, xLabel: string, legendRows: number): Frame {
  const c = new Canvas(width, height);
  c.text(width / 2, 10, title, BLACK, 2, "center");
  const f = { c, left: 78, right: width - 20, top: 36 + legendRows * 14, bottom: height - 52 };
  c.textUp(12, (f.top + f.bottom) / 2, yLabel, BLACK, 1);
  c.text((f.left + f.right) / 2, height - 16, xLabel, BLACK, 1, "center");
  return f;
}

function legend(f: Frame, names: string[], colours: readonly RGB[], dashed: boolean[] = []): void {
  let x = f.left;
  let y = 34;
  for (let i = 0; i < names.length; i++) {
    const w = textWidth(names[i]) + 34;
    if (x + w > f.right) { x = f.left; y += 14; }
    if (dashed[i]) f.c.line(x, y + 3, x + 18, y + 3, colours[i], 2, 3);
    else f.c.rect(x, y, x + 18, y + 6, colours[i]);
    f.c.text(x + 24, y, names[i]);
    x += w;
  }
}

function legendRowsNeeded(width: number, names: string[]): number {
  let rows = 1;
  let x = 78;
  for (const n of names) {
    const w = textWidth(n) + 34;
    if (x + w > width - 20) { rows++; x = 78; }
    x += w;
  }
  return names.length ? rows : 0;
}

function yAxis(f: Frame, lo: number, hi: number, ticks: number[]): (v: number) => number {
  const y = (v: number) => f.bottom - ((v - lo) / (hi - lo)) * (f.bottom - f.top);
  for (const t of ticks) {
    if (t < lo - 1e-9 || t > hi + 1e-9) continue;
    f.c.line(f.left, y(t), f.right, y(t), LIGHT);
    f.c.line(f.left - 4, y(t), f.left, y(t), BLACK);
    f.c.text(f.left - 7, y(t) - 3, formatTick(t), BLACK, 1, "right");
  }
  f.c.line(f.left, f.top, f.left, f.bottom, BLACK);
  f.c.line(f.left, f.bottom, f.right, f.bottom, BLACK);
  return y;
}

// ------------------------------------------------------------------ charts

export interface BarChart {
  title: string;
  yLabel: string;
  xLabel?: string;
  /** One group per category on the x axis. */
  categories: string[];
  /** One bar per series in every group; NaN or undefined leaves a gap. */
  series: { name: string; values: (number | undefined)[] }[];
  /** Horizontal reference lines, e.g. a target. */
  refs?: { value: number; label: string }[];
  width?: number;
  height?: number;
  yMax?: number;
}

export function barChart(spec: BarChart): Buffer {
  const width = spec.width ?? 900;
  const height = spec.height ?? 480;
  const names = spec.series.map((s) => s.name);
  const f = frame(width, height, spec.title, spec.yLabel, spec.xLabel ?? "", legendRowsNeeded(width, [...names, ...(spec.refs ?? []).map((r) => r.label)]));
  const values = spec.series.flatMap((s) => s.values).filter((v): v is number => v !== undefined && Number.isFinite(v));
  const top = spec.yMax ?? Math.max(1e-9, ...values, ...(spec.refs ?? []).map((r) => r.value)) * 1.1;
  const ticks = niceTicks(0, top);
  const hi = Math.max(top, ticks[ticks.length - 1]);
  const y = yAxis(f, 0, hi, ticks);
  const groupW = (f.right - f.left) / Math.max(1, spec.categories.length);
  const barW = Math.max(2, Math.floor((groupW * 0.8) / Math.max(1, spec.series.length)));
  spec.categories.forEach((cat, g) => {
    const gx = f.left + g * groupW + groupW * 0.1;
    spec.series.forEach((s, i) => {
      const v = s.values[g];
      if (v === undefined || !Number.isFinite(v)) return;
      const x0 = gx + i * barW;
      f.c.rect(x0 + 1, y(v), x0 + barW - 2, f.bottom - 1, PALETTE[i % PALETTE.length]);
      if (barW >= 28) f.c.text(x0 + barW / 2, y(v) - 10, formatTick(+v.toPrecision(3)), BLACK, 1, "center");
    });
    f.c.text(f.left + g * groupW + groupW / 2, f.bottom + 8, cat, BLACK, 1, "center");
  });
  for (const r of spec.refs ?? []) {
    f.c.line(f.left, y(r.value), f.right, y(r.value), BLACK, 1, 4);
  }
  const refs = (spec.refs ?? []).map((r) => r.label);
  legend(f, [...names, ...refs], [...spec.series.map((_, i) => PALETTE[i % PALETTE.length]), ...refs.map(() => BLACK)], [...names.map(() => false), ...refs.map(() => true)]);
  return f.c.png();
}

export interface LineChart {
  title: string;
  yLabel: string;
  xLabel: string;
  logX?: boolean;
  series: { name: string; points: [number, number][]; dashed?: boolean }[];
  width?: number;
  height?: number;
}

export function lineChart(spec: LineChart): Buffer {
  const width = spec.width ?? 900;
  const height = spec.height ?? 480;
  const names = spec.series.map((s) => s.name);
  const f = frame(width, height, spec.title, spec.yLabel, spec.xLabel, legendRowsNeeded(width, names));
  const pts = spec.series.flatMap((s) => s.points).filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const ticks = niceTicks(0, Math.max(1e-9, ...ys) * 1.1);
  const y = yAxis(f, 0, ticks[ticks.length - 1], ticks);
  const tx = (v: number) => (spec.logX ? Math.log10(Math.max(v, 1e-9)) : v);
  let xlo = tx(Math.min(...xs));
  let xhi = tx(Math.max(...xs));
  let xticks: number[];
  if (spec.logX) {
    xlo = Math.floor(xlo);
    xhi = Math.ceil(xhi);
    if (xhi === xlo) xhi++;
    xticks = [];
    for (let e = xlo; e <= xhi; e++) xticks.push(10 ** e);
  } else {
    xticks = niceTicks(Math.min(0, xlo), xhi);
    xlo = xticks[0];
    xhi = xticks[xticks.length - 1];
  }
  const pad = 12;
  const x = (v: number) => f.left + pad + ((tx(v) - xlo) / (xhi - xlo || 1)) * (f.right - f.left - 2 * pad);
  for (const t of xticks) {
    f.c.line(x(t), f.bottom, x(t), f.bottom + 4, BLACK);
    f.c.line(x(t), f.top, x(t), f.bottom - 1, LIGHT);
    f.c.text(x(t), f.bottom + 8, formatTick(t), BLACK, 1, "center");
  }
  f.c.line(f.left, f.bottom, f.right, f.bottom, BLACK);
  f.c.line(f.left, f.top, f.left, f.bottom, BLACK);
  spec.series.forEach((s, i) => {
    const col = PALETTE[i % PALETTE.length];
    const p = s.points.filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b)).sort((a, b) => a[0] - b[0]);
    for (let k = 1; k < p.length; k++) f.c.line(x(p[k - 1][0]), y(p[k - 1][1]), x(p[k][0]), y(p[k][1]), col, 2, s.dashed ? 5 : 0);
    for (const [a, b] of p) f.c.rect(x(a) - 3, y(b) - 3, x(a) + 3, y(b) + 3, col);
  });
  legend(f, names, spec.series.map((_, i) => PALETTE[i % PALETTE.length]), spec.series.map((s) => !!s.dashed));
  return f.c.png();
}

