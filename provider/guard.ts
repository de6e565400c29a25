// The commit-confirmed guard of one provider process (design §10, issue 19;
// the scripts are lib/render/rollback.ts). Armed once per host before the
// first change of a run, in the same round trip as the preflight; every
// change script then carries the hold prefix; the run's Confirmation
// resource (or, on destroy, GatewayHost's removal) confirms over a NEW SSH
// connection, which proves the path still works after the change.
import { holdPrefix, renderArm, renderConfirm } from "../lib/render/rollback";
import { describeTarget } from "./connection";
import { type Connection, SshPool } from "./ssh";

export class ConfirmError extends Error {}

/** "23:41:07 UTC" */
const clock = (t: number) => `${new Date(t).toISOString().slice(11, 19)} UTC`;

interface HostGuard {
  armed: Promise<void>;
  afterSeconds: number;
  /** When the last change script ended (the box counts from then). */
  lastChange: number;
  /** Changes running now: a confirmation waits for them, so it covers every change before it. */
  inflight: number;
  idle: (() => void)[];
}

export class Guard {
  private readonly hosts = new Map<string, HostGuard>();
  private readonly confirmed = new Set<string>();
  /** A confirmation under way: a change that starts meanwhile waits for it, then arms anew. */
  private readonly confirming = new Map<string, Promise<void>>();

  constructor(private readonly freshPool: (connectTimeoutMs: number) => SshPool = (ms) => new SshPool({ connectTimeoutMs: ms })) {}

  /** The lines that arm the guard, to run after a passing preflight; none when afterSeconds is 0. */
  armLines(afterSeconds: number): string[] {
    return afterSeconds > 0 ? renderArm(afterSeconds) : [];
  }

  /** Disarms without a new connection: for a run refused before its first change. */
  disarmScript(): string {
    return renderConfirm();
  }

  /** True once this process confirmed a run on the host: a later change must confirm itself. */
  wasConfirmed(conn: Connection): boolean {
    return this.confirmed.has(describeTarget(conn));
  }

  isArmed(conn: Connection): boolean {
    return this.hosts.has(describeTarget(conn));
  }

  /**
   * Before a change: arms the guard unless it is armed (`arm` runs the
   * script; for an apply, together with the preflight; concurrent changes
   * wait for the same promise) and counts the change as running until end().
   */
  async ensure(conn: Connection, afterSeconds: number, arm: () => Promise<void>): Promise<void> {
    if (afterSeconds <= 0) return;
    const key = describeTarget(conn);
    for (;;) {
      await this.confirming.get(key)?.catch(() => undefined);
      let host = this.hosts.get(key);
      if (!host) {
        host = { armed: arm(), afterSeconds, lastChange: Date.now(), inflight: 0, idle: [] };
        this.hosts.set(key, host);
      }
      try {
        await host.armed;
      } catch (err) {
        if (this.hosts.get(key) === host) this.hosts.delete(key);
        throw err;
      }
      // Still the same guard (no confirmation began meanwhile): this change joins it.
      if (this.hosts.get(key) === host && !this.confirming.has(key)) {
        host.inflight++;
        return;
      }
    }
  }

  /** The change that ensure() counted has ended (whichever way): the box's countdown restarts now. */
  end(conn: Connection): void {
    const host = this.hosts.get(describeTarget(conn));
    if (!host || host.inflight === 0) return;
    host.lastChange = Date.now();
    host.inflight--;
    if (host.inflight === 0) for (const wake of host.idle.splice(0)) wake();
  }

  /** A change script as sent while the guard is armed: it holds the guard while it runs. */
  hold(conn: Connection, script: string): string {
    return this.isArmed(conn) ? holdPrefix() + script : script;
  }

  /** When the box rolls back unless confirmed. */
  deadline(conn: Connection): string | undefined {
    const host = this.hosts.get(describeTarget(conn));
    return host && clock(host.lastChange + host.afterSeconds * 1000);
  }

  /**
   * Confirms over a new connection and disarms; no SSH when this process
   * armed nothing. Either way the run has passed its confirmation point, so
   * a later change (the engine deletes what left the site last, after the
   * Confirmation) confirms itself.
   */
  async confirm(conn: Connection): Promise<void> {
    const key = describeTarget(conn);
    await this.confirming.get(key);
    const host = this.hosts.get(key);
    if (!host) {
      this.confirmed.add(key);
      return;
    }
    await host.armed;
    while (host.inflight > 0) await new Promise<void>((wake) => host.idle.push(wake));
    const ongoing = this.confirming.get(key);
    if (ongoing) return ongoing; // another change's confirmation covers this one too
    if (this.hosts.get(key) !== host) return;
    const run = this.confirmNow(key, conn, host);
    this.confirming.set(key, run);
    try {
      await run;
    } finally {
      this.confirming.delete(key);
    }
  }

  private async confirmNow(key: string, conn: Connection, host: HostGuard): Promise<void> {
    const at = host.lastChange + host.afterSeconds * 1000;
    // Give up in time to tell the user before the box rolls back.
    const timeout = Math.max(2000, Math.min(15_000, at - Date.now() - 1000));
    const fresh = this.freshPool(timeout);
    try {
      const result = await fresh.run(conn, renderConfirm(), { step: "confirm the run" });
      if (result.code !== 0) throw new Error(result.stderr.trim() || `exit ${result.code}`);
      this.hosts.delete(key);
      this.confirmed.add(key);
    } catch (err) {
      const cause = err instanceof Error ? err.message : String(err);
      this.hosts.delete(key);
      throw new ConfirmError(
        [
          `multiwan: the change was applied, but a new SSH connection to ${describeTarget(conn)} could not confirm it: ${cause.split("\n")[0]}`,
          `The change probably cut the management path. The box rolls itself back at ${clock(at)} (rollback.afterSeconds = ${host.afterSeconds} s after the run's last change) to what it was before this run.`,
          "What to do next: wait until then, run `pulumi refresh` so the state learns what the box has again, fix the change that cut the path, then run `pulumi up`.",
        ].join("\n"),
      );
    } finally {
      await fresh.close();
    }
  }
}
