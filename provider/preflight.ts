// Runs the read-only preflight once per host and preflight spec per provider
// process, before the first change. Every resource awaits the same promise,
// so when it fails nothing is applied and the reason is reported once.
import type { Preflight } from "../lib/plan";
import { parseFacts } from "../lib/facts/sections";
import { ownershipClashes } from "../lib/ownership";
import { renderPreflight } from "../lib/render/preflight";
import { describeTarget } from "./connection";
import type { Connection, SshPool } from "./ssh";

export class PreflightError extends Error {}

/** Lines to run right after a passing preflight, and the script that undoes them. */
export interface Then {
  lines: string[];
  undo: string;
}

export class PreflightGate {
  private readonly checks = new Map<string, Promise<void>>();
  private readonly reported = new Set<string>();

  constructor(private readonly pool: SshPool) {}

  private keyOf(conn: Connection, preflight: Preflight): string {
    return `${describeTarget(conn)} ${JSON.stringify(preflight)}`;
  }

  /** True once this host's preflight has been started (it may still be running) in this process. */
  started(conn: Connection, preflight: Preflight): boolean {
    return this.checks.has(this.keyOf(conn, preflight));
  }

  /**
   * `then`: lines that run in the same round trip when the preflight's shell
   * checks pass (arming the rollback guard), and the script that takes them
   * back when the clashes found here in its facts refuse the run after all.
   */
  async ensure(conn: Connection, preflight: Preflight, then?: Then): Promise<void> {
    const key = this.keyOf(conn, preflight);
    let check = this.checks.get(key);
    if (!check) {
      check = this.run(conn, preflight, then);
      this.checks.set(key, check);
    }
    try {
      await check;
    } catch (err) {
      // A connection error is not a verdict on the host: let the next resource try again.
      if (!(err instanceof PreflightError)) {
        this.checks.delete(key);
        throw err;
      }
      // The first resource carries the full report; the others point at it.
      if (this.reported.has(key))
        throw new PreflightError(`not applied: the preflight check of ${describeTarget(conn)} failed (reported once above)`);
      this.reported.add(key);
      throw err;
    }
  }

  private async run(conn: Connection, preflight: Preflight, then: Then | undefined): Promise<void> {
    // The guard's lines run in the same round trip, only when the shell
    // checks passed (exit 0), after a section of their own so their output
    // is not read as the last fact.
    const script = then?.lines.length
      ? [
          "sh -s <<'MULTIWAN_PREFLIGHT' || exit 1",
          renderPreflight(preflight).trimEnd(),
          "MULTIWAN_PREFLIGHT",
          "echo '@@ then'",
          ...then.lines,
          "",
        ].join("\n")
      : renderPreflight(preflight);
    const result = await this.pool.run(conn, script, { step: "preflight" });
    const { problems, clashes } = preflightFindings(preflight, result.stdout);
    if (result.code === 0 && clashes.length === 0) return;
    // Armed, yet refused for a clash: nothing was changed, so take the guard back.
    if (result.code === 0 && then?.lines.length) await this.pool.run(conn, then.undo, { step: "disarm the rollback guard" });
    const found = [...problems, ...clashes];
    const detail = found.length ? found.map((p) => `  - ${p}`).join("\n") : `  ${result.stderr.trim().split("\n").slice(-5).join("\n  ")}`;
    throw new PreflightError(`preflight check of ${describeTarget(conn)} failed; nothing was changed:\n${detail}`);
  }
}

/**
 * The preflight's output: its problem lines (tools, interfaces), then the
 * facts of every object the site would own, read here for clashes with
 * what is not ours (lib/ownership.ts).
 */
export function preflightFindings(preflight: Preflight, stdout: string): { problems: string[]; clashes: string[] } {
  const lines = stdout.split("\n");
  const firstFact = lines.findIndex((l) => l.startsWith("@@ "));
  const problems = (firstFact < 0 ? lines : lines.slice(0, firstFact)).map((l) => l.trim()).filter(Boolean);
  const clashes = ownershipClashes(preflight.owned ?? [], parseFacts(stdout));
  return { problems, clashes };
}
