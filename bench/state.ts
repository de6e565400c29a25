// The gateway's kernel state as the bench compares it between methods:
// rules, IPv4 routes, the nft ruleset (without counters) and the sysctls.
// Pulumi, the floor and Ansible must leave exactly the same state after each
// step, or their times are not comparable.
import type { GatewaySnapshot, Lab } from "../lab/lab";

export interface KernelState {
  rules: string;
  routes: string;
  nft: string;
  sysctls: string;
}

export function stateOf(s: GatewaySnapshot): KernelState {
  return {
    rules: s.rules,
    // IPv6 link-local routes appear on their own a while after links come up.
    routes: s.routes
      .split("\n")
      .filter((l) => !l.includes(":"))
      .join("\n"),
    nft: sortedTables(s.nft.replace(/counter packets \d+ bytes \d+ /g, "")),
    sysctls: Object.entries(s.sysctls)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`)
      .join("\n"),
  };
}

/**
 * The ruleset with its top-level tables in name order: nft lists tables in
 * creation order, and Pulumi creates independent resources in parallel.
 */
export function sortedTables(ruleset: string): string {
  const blocks: string[] = [];
  let cur: string[] = [];
  for (const line of ruleset.split("\n")) {
    cur.push(line);
    if (line === "}") {
      blocks.push(cur.join("\n"));
      cur = [];
    }
  }
  if (cur.some((l) => l.trim())) blocks.push(cur.join("\n"));
  return blocks.sort().join("\n");
}

export async function kernelState(lab: Lab): Promise<KernelState> {
  return stateOf(await lab.snapshot());
}

/** What differs, one line per field with the first differing line of each side; empty when equal. */
export function stateDiff(want: KernelState, got: KernelState): string[] {
  const out: string[] = [];
  for (const k of Object.keys(want) as (keyof KernelState)[]) {
    if (want[k] === got[k]) continue;
    const a = want[k].split("\n");
    const b = got[k].split("\n");
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    out.push(
      `${k}: line ${i + 1}: expected ${JSON.stringify(a[i] ?? "(end)")}, got ${JSON.stringify(b[i] ?? "(end)")} (${a.length} vs ${b.length} lines)`,
    );
  }
  return out;
}

/** Collects end-state mismatches of one section. */
export class StateChecks {
  readonly mismatches: string[] = [];
  compared = 0;

  /** Records whether `got` equals `want`; returns true when it does. */
  expect(what: string, want: KernelState | undefined, got: KernelState): boolean {
    if (!want) return true;
    this.compared++;
    const d = stateDiff(want, got);
    if (d.length) this.mismatches.push(`${what}: ${d.join("; ")}`);
    return d.length === 0;
  }
}
