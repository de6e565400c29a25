// The Pulumi side of the bench: one lab stack (state and config in a work
// directory of the bench's own, see lab/pulumiStack.ts), driven through
// `node dist/cli/pulumi.js` exactly as `npm run pulumi` runs it.
import fs from "node:fs";
import path from "node:path";
import type { Lab } from "../lab/lab";
import { initLabStack, type LabStack } from "../lab/pulumiStack";
import { check, run, type RunResult } from "../support/proc";
import { REPO_ROOT } from "../support/repoRoot";
import { writeSite, type RawSite } from "./sites";

const PULUMI = path.join(REPO_ROOT, "dist", "cli", "pulumi.js");

export class BenchStack {
  readonly stack: LabStack;
  /** Whether the stack may hold resources (destroy in finally). */
  deployed = false;
  /** pulumi commands run, and those that failed with sshd's "Channel open failure" (the pool retries those: should be none). */
  commands = 0;
  readonly channelOpenFailures: string[] = [];

  constructor(
    readonly lab: Lab,
    workDir: string,
  ) {
    fs.mkdirSync(workDir, { recursive: true });
    this.stack = initLabStack(lab.name, lab.stackFile, fs.readFileSync(lab.privateKeyPath, "utf8"), workDir);
  }

  setSite(site: RawSite): void {
    writeSite(this.stack.configFile, site);
  }

  async pulumi(args: string[], timeoutMs = 300_000, env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
    const r = await run([process.execPath, PULUMI, ...args, ...this.stack.args, "--non-interactive"], {
      cwd: REPO_ROOT,
      env: { ...this.stack.env, ...env },
      timeoutMs,
    });
    this.commands++;
    if (r.code !== 0 && /Channel open failure/.test(r.stdout + r.stderr)) {
      this.channelOpenFailures.push(
        `${Object.entries(env)
          .map(([k, v]) => `${k}=${v} `)
          .join("")}pulumi ${args.join(" ")}`,
      );
    }
    return r;
  }

  /**
   * `pulumi <args>`, timed; checks the exit code and that the summary
   * matches `expect` (e.g. /13 created/), so a figure never comes from a run
   * that did something else.
   */
  async timed(args: string[], expect?: RegExp, env: NodeJS.ProcessEnv = {}): Promise<number> {
    const r = await this.pulumi(args, undefined, env);
    check(r, `pulumi ${args.join(" ")}`);
    if (expect && !expect.test(r.stdout + r.stderr)) {
      throw new Error(`pulumi ${args.join(" ")}: expected ${expect} in its output:\n${(r.stdout + r.stderr).slice(-3000)}`);
    }
    return r.ms;
  }

  async up(expect?: RegExp, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<number> {
    this.deployed = true;
    return this.timed(["up", "--yes", ...extra], expect, env);
  }

  async preview(expect?: RegExp): Promise<number> {
    return this.timed(["preview"], expect);
  }

  async destroy(expect?: RegExp): Promise<number> {
    const ms = await this.timed(["destroy", "--yes"], expect);
    this.deployed = false;
    return ms;
  }

  /** Best-effort cleanup for finally blocks. */
  async destroyQuietly(): Promise<string | undefined> {
    if (!this.deployed) return undefined;
    const r = await this.pulumi(["destroy", "--yes"]);
    this.deployed = false;
    return r.code === 0 ? undefined : `pulumi destroy failed during cleanup: ${(r.stdout + r.stderr).slice(-1500)}`;
  }
}

/** The run's Confirmation: every bench site keeps the default rollback.afterSeconds, and it updates whenever another resource does. */
export const CONFIRMATION = 1;

/** Resources of a stack besides the gateway's own: the stack, the MultiWanGateway component, its multiwan provider and the Confirmation. */
export const FRAME_RESOURCES = 3 + CONFIRMATION;

/** Number of resources in the stack (stack, component, provider resources) a site yields: "N created". */
export function countRe(verb: "created" | "unchanged" | "deleted" | "updated", n: number): RegExp {
  return new RegExp(`\\b${n} ${verb}\\b`);
}
