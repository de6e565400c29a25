// `npm run status`: the health monitor's view of each uplink (from
// /run/multiwan/health.json) beside the live multipath route (each uplink's
// share of new connections), as a table or JSON. Pure: cli/status.ts
// fetches the inputs over SSH.
import type { JsonRoute } from "./facts/routes";
import type { Plan } from "./plan";

export interface UplinkStatus {
  uplink: string;
  /** "up", "down", or "unknown" when no monitor reports it. */
  state: string;
  lossPercent: number | null;
  rttMs: number | null;
  /** Share of new connections in the live multipath route, 0..1. */
  share: number;
  /** Seconds since the monitor's last change of this uplink's state. */
  sinceSeconds: number | null;
}

interface HealthJson {
  updated?: number;
  uplinks?: { name: string; state: string; since?: number; lossPercent?: number | null; rttMs?: number | null }[];
}

/** Rows in the site's uplink order. `health` is health.json's text ("" without a monitor); `now` the box's clock. */
export function statusRows(plan: Plan, health: string, routes: JsonRoute[], now: number): UplinkStatus[] {
  let parsed: HealthJson = {};
  try {
    parsed = health.trim() ? (JSON.parse(health) as HealthJson) : {};
  } catch {
    parsed = {};
  }
  const byName = new Map((parsed.uplinks ?? []).map((u) => [u.name, u]));
  const def = routes.find((r) => r.dst === "default");
  const hops = def?.nexthops?.length ? def.nexthops : def ? [{ dev: def.dev, weight: 1 }] : [];
  const total = hops.reduce((s, h) => s + (h.weight ?? 1), 0);
  return plan.multipath.nexthops.map((n) => {
    const h = byName.get(n.uplink);
    const weight = hops.filter((x) => x.dev === n.dev).reduce((s, x) => s + (x.weight ?? 1), 0);
    return {
      uplink: n.uplink,
      state: h?.state ?? "unknown",
      lossPercent: h?.lossPercent ?? null,
      rttMs: h?.rttMs ?? null,
      share: total > 0 ? weight / total : 0,
      sinceSeconds: h?.since ? Math.max(0, now - h.since) : null,
    };
  });
}

/** "3 s", "4 min 5 s", "2 h 3 min", "1 d 2 h". */
export function formatAge(seconds: number | null): string {
  if (seconds === null) return "-";
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
  return `${Math.floor(seconds / 86400)} d ${Math.floor((seconds % 86400) / 3600)} h`;
}

export function formatStatusTable(rows: UplinkStatus[]): string {
  const table = [
    ["uplink", "state", "loss", "rtt", "share", "since change"],
    ...rows.map((r) => [
      r.uplink,
      r.state,
      r.lossPercent === null ? "-" : `${r.lossPercent}%`,
      r.rttMs === null ? "-" : `${r.rttMs.toFixed(1)} ms`,
      `${Math.round(r.share * 100)}%`,
      formatAge(r.sinceSeconds),
    ]),
  ];
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  return `${table
    .map((row) =>
      row
        .map((cell, c) => (c >= 2 && c <= 4 ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}
