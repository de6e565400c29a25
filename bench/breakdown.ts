// Section 4: where the time goes — the measurements that explain a missed
// target. The provider's own SSH pool (ssh2) is timed per resource script;
// the Pulumi CLI is timed without a program (`version`) and for a no-op
// `up --skip-preview`; OpenSSH's cost per session is timed with `true`.
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { planSite } from "../lib/plan";
import { renderScripts } from "../lib/render";
import { renderPreflight } from "../lib/render/preflight";
import { planResources } from "../lib/resources";
import { SshPool, type Connection } from "../provider/ssh";
import type { Ctx } from "./context";
import { check, run, start } from "../support/proc";
import { parse } from "./sites";
import { REPO_ROOT } from "../support/repoRoot";
import { FRAME_RESOURCES, countRe } from "./stack";
import { kernelState, StateChecks, type KernelState } from "./state";
import { median, timing, type Timing } from "./stats";

export interface BreakdownResult {
  /** SSH costs through the lab's relay, which every method uses. */
  ssh: {
    /** `ssh ... true`: OpenSSH client start, handshake, auth, one exec. */
    opensshSession: Timing;
    /** ssh2 as the provider uses it: connect + authenticate + first `true`. */
    ssh2Connect: Timing;
    /** One more exec channel of `true` on the open connection. */
    ssh2Exec: Timing;
    /** Eight `true` execs at once on the open connection (the pool's concurrency). */
    ssh2Exec8Parallel: Timing;
  };
  /** Each resource's apply script, one exec channel each, sequentially, on one connection (first up order). */
  perResourceApply: { key: string; kind: string; ms: number }[];
  perResourceRemove: { key: string; kind: string; ms: number }[];
  preflightMs: number;
  /** `node dist/cli/pulumi.js version`: the wrapper and the CLI without a program. */
  cliVersion: Timing;
  /** The bare CLI binary's `version`. */
  cliBareVersion: Timing;
  /** Spawn of the provider plugin (node dist/provider/main.js) until it prints its port. */
  providerStart: Timing;
  /** `node -e 'require("dist/index.js")'`: node + @pulumi/pulumi + the program's modules. */
  programLoad: Timing;
  /**
   * Sustained load on one connection, as a big `pulumi up` makes it: `execs`
   * short scripts through a default pool at once; how many still failed with
   * sshd's "Channel open failure" after the pool's retries. Absent in quick mode.
   */
  channelLoad?: { execs: number; failed: number; ms: number };
  /** A no-op `up --skip-preview` (one program run instead of two). */
  noopSkipPreview?: Timing;
  stateChecks: { compared: number; mismatches: string[] };
}

const rep = async (n: number, f: () => Promise<number>): Promise<number[]> => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await f());
  return out;
};

/** Milliseconds from spawn until the process writes its first byte to stdout (then it is killed). */
async function timeToFirstOutput(argv: string[]): Promise<number> {
  const p = start(argv);
  const t0 = performance.now();
  try {
    for (;;) {
      if (p.output().length) return performance.now() - t0;
      if (p.child.exitCode !== null || performance.now() - t0 > 20_000) throw new Error(`${argv.join(" ")} printed nothing: ${p.output()}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    await p.stop();
  }
}

export async function breakdownSection(ctx: Ctx, pristine: KernelState): Promise<BreakdownResult> {
  const { lab, stack, opts, log } = ctx;
  const runs = opts.quick ? 1 : Math.max(3, Math.min(opts.runs, 10));
  const site = parse(ctx.home);
  const resources = planResources(planSite(site));
  const checks = new StateChecks();

  const privateKey = fs.readFileSync(lab.privateKeyPath, "utf8");
  const conn: Connection = { address: "127.0.0.1", port: ctx.gw.port, user: "root", hostKey: lab.hostKeyLine, privateKey };
  const openssh = await rep(runs, async () => check(await run(ctx.gw.sshArgs("true"))).ms);
  const connect: number[] = [];
  const exec: number[] = [];
  const par: number[] = [];
  for (let i = 0; i < runs; i++) {
    const pool = new SshPool();
    try {
      let t = performance.now();
      await pool.runChecked(conn, "true", "true");
      connect.push(performance.now() - t);
      for (let k = 0; k < 5; k++) {
        t = performance.now();
        await pool.runChecked(conn, "true", "true");
        exec.push(performance.now() - t);
      }
      t = performance.now();
      await Promise.all(Array.from({ length: 8 }, () => pool.runChecked(conn, "true", "true")));
      par.push(performance.now() - t);
    } finally {
      await pool.close();
    }
  }
  const ssh: BreakdownResult["ssh"] = {
    opensshSession: timing(openssh),
    ssh2Connect: timing(connect),
    ssh2Exec: timing(exec),
    ssh2Exec8Parallel: timing(par),
  };
  log(
    `breakdown: OpenSSH \`true\` ${Math.round(ssh.opensshSession.median)} ms, ssh2 connect ${Math.round(ssh.ssh2Connect.median)} ms, exec ${Math.round(ssh.ssh2Exec.median)} ms, 8 parallel ${Math.round(ssh.ssh2Exec8Parallel.median)} ms`,
  );

  const applyMs = new Map<string, number[]>();
  const removeMs = new Map<string, number[]>();
  const preflight: number[] = [];
  for (let i = 0; i < runs; i++) {
    const pool = new SshPool();
    try {
      await pool.runChecked(conn, "true", "true");
      let t = performance.now();
      await pool.runChecked(conn, renderPreflight(planSite(site).preflight), "preflight");
      preflight.push(performance.now() - t);
      for (const r of resources) {
        t = performance.now();
        await pool.runChecked(conn, renderScripts(r.kind, r.entry as never).apply, `apply ${r.key}`);
        (applyMs.get(r.key) ?? applyMs.set(r.key, []).get(r.key)!).push(performance.now() - t);
      }
      for (const r of [...resources].reverse()) {
        t = performance.now();
        await pool.runChecked(conn, renderScripts(r.kind, r.entry as never).remove, `remove ${r.key}`);
        (removeMs.get(r.key) ?? removeMs.set(r.key, []).get(r.key)!).push(performance.now() - t);
      }
    } finally {
      await pool.close();
    }
    if (!checks.expect(`breakdown run ${i + 1} after the removes vs pristine`, pristine, await kernelState(lab))) {
      throw new Error(`breakdown: removes did not restore the gateway:\n${checks.mismatches.join("\n")}`);
    }
  }
  const perResourceApply = resources.map((r) => ({ key: r.key, kind: r.kind, ms: median(applyMs.get(r.key)!) }));
  const perResourceRemove = [...resources].reverse().map((r) => ({ key: r.key, kind: r.kind, ms: median(removeMs.get(r.key)!) }));
  log(`breakdown: per-resource applies ${perResourceApply.map((r) => Math.round(r.ms)).join("+")} ms`);

  let channelLoad: BreakdownResult["channelLoad"];
  if (!opts.quick) {
    const pool = new SshPool();
    const execs = 200;
    let failed = 0;
    const t = performance.now();
    try {
      await Promise.all(
        Array.from({ length: execs }, () =>
          pool.runChecked(conn, "ip route show >/dev/null", "load").catch((e: unknown) => {
            if (!/Channel open failure/.test(String(e))) throw e;
            failed++;
          }),
        ),
      );
    } finally {
      await pool.close();
    }
    channelLoad = { execs, failed, ms: performance.now() - t };
    log(`breakdown: ${execs} execs at once through the pool: ${failed} failed with Channel open failure`);
  }

  const pulumiJs = path.join(REPO_ROOT, "dist", "cli", "pulumi.js");
  const version = await rep(
    runs,
    async () => check(await run([process.execPath, pulumiJs, "version"], { cwd: REPO_ROOT, env: stack.stack.env })).ms,
  );
  const cli = check(
    await run(["bash", path.join(REPO_ROOT, "scripts", "toolchain.sh")], { timeoutMs: 300_000 /* a first build takes minutes */ }),
  )
    .stdout.trim()
    .split("\n")
    .pop()!;
  const bare = await rep(runs, async () => check(await run([cli, "version"], { env: stack.stack.env })).ms);
  const providerStart = await rep(runs, () =>
    timeToFirstOutput([process.execPath, path.join(REPO_ROOT, "dist", "provider", "main.js"), "127.0.0.1:1"]),
  );
  const programLoad = await rep(
    runs,
    async () => check(await run([process.execPath, "-e", `require(${JSON.stringify(path.join(REPO_ROOT, "dist", "index.js"))})`])).ms,
  );

  let noopSkip: number[] | undefined;
  if (!opts.quick) {
    const n = resources.length + FRAME_RESOURCES;
    stack.setSite(ctx.home);
    await stack.up(countRe("created", n));
    noopSkip = await rep(runs, () => stack.up(countRe("unchanged", n), ["--skip-preview"]));
    await stack.destroy(countRe("deleted", n));
    if (!checks.expect("breakdown: after pulumi destroy vs pristine", pristine, await kernelState(lab))) {
      throw new Error(`breakdown: destroy did not restore the gateway:\n${checks.mismatches.join("\n")}`);
    }
    log(`breakdown: no-op up --skip-preview ${Math.round(median(noopSkip))} ms`);
  }
  return {
    ssh,
    perResourceApply,
    perResourceRemove,
    preflightMs: median(preflight),
    cliVersion: timing(version),
    cliBareVersion: timing(bare),
    providerStart: timing(providerStart),
    programLoad: timing(programLoad),
    noopSkipPreview: noopSkip ? timing(noopSkip) : undefined,
    channelLoad,
    stateChecks: { compared: checks.compared, mismatches: checks.mismatches },
  };
}
