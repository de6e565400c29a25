// What the commit-confirmed guard (issue 19) adds to an `up`, on the lab.
// Goal: at most one extra SSH round trip, and <= 150 ms.
//
// Two figures:
//   1. the guard's own steps, timed on the SSH layer (N runs each, medians):
//      the preflight alone against the preflight with arming (the same round
//      trip), and the confirmation (a new connection, one script);
//   2. whole `pulumi up`s of a weight change with rollback.afterSeconds 60
//      and 0, alternated (medians; the engine's own noise is larger than
//      the difference, so figure 1 is the one to read).
// Usage: npm run bench:rollback [-- rounds]   (root: it brings up a lab; writes bench/results/rollback.md)
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { labUp } from "../lab/lab";
import { planSite } from "../lib/plan";
import { renderPreflight } from "../lib/render/preflight";
import { renderArm, renderConfirm } from "../lib/render/rollback";
import { parseSiteOrThrow } from "../lib/validate";
import { SshPool } from "../provider/ssh";
import { readSite } from "./sites";
import { REPO_ROOT } from "../support/repoRoot";
import { BenchStack } from "./stack";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (n: number) => `${n.toFixed(1)} ms`;

async function timed(body: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await body();
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 9);
  const lab = await labUp({ guard: true, log: () => {} });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "mw-bench-rollback-"));
  const stack = new BenchStack(lab, work);
  try {
    const site = readSite(lab.stackFile);
    const preflight = planSite(parseSiteOrThrow(site)).preflight;
    const conn = lab.providerConnection();
    const pool = new SshPool({ warn: () => {} });
    const plain = renderPreflight(preflight);
    const armed = ["sh -s <<'MULTIWAN_PREFLIGHT' || exit 1", plain.trimEnd(), "MULTIWAN_PREFLIGHT", ...renderArm(60), ""].join("\n");
    const check = async (p: Promise<{ code: number | null; stderr: string }>) => {
      const r = await p;
      if (r.code !== 0) throw new Error(`bench rollback: exit ${r.code}: ${r.stderr}`);
    };
    await check(pool.run(conn, plain)); // dial once: the run's pooled connection
    const t = { preflight: [] as number[], preflightArm: [] as number[], confirm: [] as number[] };
    for (let i = 0; i < rounds; i++) {
      t.preflight.push(await timed(() => check(pool.run(conn, plain))));
      t.preflightArm.push(await timed(() => check(pool.run(conn, armed))));
      const fresh = new SshPool({ warn: () => {} });
      t.confirm.push(await timed(() => check(fresh.run(conn, renderConfirm()))));
      await fresh.close();
    }
    await pool.close();
    const arm = median(t.preflightArm) - median(t.preflight);
    const confirm = median(t.confirm);
    console.log(`guard steps, medians of ${rounds}:`);
    console.log(`  preflight alone              ${ms(median(t.preflight))}`);
    console.log(`  preflight + arm (same trip)  ${ms(median(t.preflightArm))}  -> arming adds ${ms(arm)}`);
    console.log(`  confirm (new connection)     ${ms(confirm)}`);
    console.log(`  added to a guarded up        ${ms(arm + confirm)}  (goal <= 150 ms; one extra connection)`);

    // Whole ups: a weight change each, guard on and off alternated.
    stack.setSite(site);
    await stack.up();
    const ups = { on: [] as number[], off: [] as number[] };
    for (let i = 0; i < Math.min(rounds, 5) * 2; i++) {
      const on = i % 2 === 0;
      const edited = structuredClone(site);
      edited.uplinks[1].weight = 2 + (i % 3);
      edited.rollback = { afterSeconds: on ? 60 : 0 };
      stack.setSite(edited);
      (on ? ups.on : ups.off).push(await stack.up(/updated/, ["--skip-preview"]));
    }
    console.log(`pulumi up of a weight change, medians: guard on ${ms(median(ups.on))}, off ${ms(median(ups.off))}`);
    const report = [
      "# What the commit-confirmed guard adds to an up (issue 19)",
      "",
      `Goal: at most one extra SSH round trip, and ≤ 150 ms. Lab gateway, medians of ${rounds} (\`npm run bench:rollback\`); load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores when it ended.`,
      "",
      "| step | time | SSH |",
      "|---|---|---|",
      `| preflight alone | ${ms(median(t.preflight))} | the run's own round trip |`,
      `| preflight + arming (the same round trip) | ${ms(median(t.preflightArm))} | arming adds ${ms(arm)}, no round trip |`,
      `| confirmation | ${ms(confirm)} | one new connection, one script |`,
      `| **added to a guarded up** | **${ms(arm + confirm)}** | **1 extra connection** |`,
      "",
      `Whole \`pulumi up\`s of a weight change (medians of ${ups.on.length} each, alternated): guard on ${ms(median(ups.on))}, off ${ms(median(ups.off))}; that difference also holds the engine's own step for one more resource (the Confirmation) and the engine's noise, so the table is the guard's figure.`,
      "",
    ].join("\n");
    fs.writeFileSync(path.join(REPO_ROOT, "bench", "results", "rollback.md"), report);
    console.log("wrote bench/results/rollback.md");
  } finally {
    const problem = await stack.destroyQuietly();
    if (problem) console.error(problem);
    await lab.down();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
