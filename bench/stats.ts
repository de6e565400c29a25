// Small statistics and formatting helpers for the bench.

export function median(xs: readonly number[]): number {
  const v = [...xs].sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Least-squares line y = intercept + slope * x. */
export function linearFit(points: readonly [number, number][]): { slope: number; intercept: number } {
  const p = points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (p.length < 2) return { slope: NaN, intercept: p.length ? p[0][1] : NaN };
  const n = p.length;
  const mx = p.reduce((s, [x]) => s + x, 0) / n;
  const my = p.reduce((s, [, y]) => s + y, 0) / n;
  const sxx = p.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  const sxy = p.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const slope = sxx ? sxy / sxx : NaN;
  return { slope, intercept: my - slope * mx };
}

/** Summary of repeated timings in milliseconds. */
export interface Timing {
  runs: number[];
  median: number;
  min: number;
  max: number;
}

export function timing(runs: number[]): Timing {
  const r = runs.map((x) => Math.round(x * 10) / 10);
  return { runs: r, median: median(r), min: Math.min(...r), max: Math.max(...r) };
}

export function ms(x: number): string {
  if (!Number.isFinite(x)) return "-";
  if (x >= 10_000) return `${(x / 1000).toFixed(1)} s`;
  if (x >= 1000) return `${(x / 1000).toFixed(2)} s`;
  return `${Math.round(x)} ms`;
}

export function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return "-";
  const r = a / b;
  return r >= 10 ? `${r.toFixed(0)}x` : `${r.toFixed(2)}x`;
}

export function pct(x: number, digits = 1): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : "-";
}

/** A plain-text table: first row is the header; columns padded; numbers right-aligned. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  const numeric = rows[0].map((_, i) =>
    rows.slice(1).every((r) => /^[-+0-9.,x% smb/()≈~]*$/i.test(r[i] ?? "") && /\d|^-$/.test(r[i] ?? "-")),
  );
  const fmt = (r: string[]) =>
    r
      .map((cell, i) => (numeric[i] && i > 0 ? (cell ?? "").padStart(widths[i]) : (cell ?? "").padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [fmt(rows[0]), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(fmt)].join("\n");
}

/** The same rows as a Markdown table. */
export function markdownTable(rows: string[][]): string {
  const esc = (s: string) => (s ?? "").replace(/\|/g, "\\|");
  return [
    `| ${rows[0].map(esc).join(" | ")} |`,
    `| ${rows[0].map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
    ...rows.slice(1).map((r) => `| ${r.map(esc).join(" | ")} |`),
  ].join("\n");
}
