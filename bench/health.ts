// `npm run bench:health` (node dist/bench/health.js): how fast the health
// monitor takes a dead ISP out and puts it back, beside the anchors'
// computed defaults (design §9), and what the monitor costs in CPU. Its own
// lab with 3 uplinks (bench/labx.ts: isp3 also runs through modem 1, so the
// outage drops only what comes from isp1's link), the default health check.
//
//   detect:  from the black-hole until a whole batch of new connections succeeds
//   recover: from the ISP's return until new connections leave through isp1 again
//   cpu:     the monitor's processes (sh, its readers, the pings, what they
//            spawn) over a quiet period, as % of one core
//
// Environment: BENCH_QUICK=1 (one run, 5 s of CPU sampling), BENCH_RUNS (3),
// BENCH_OUT (bench/results): health.json and health.md land there.
import fs from "node:fs";
import path from "node:path";
import { type Lab, SEEN_VIA, labUp } from "../lab/lab";
import { run } from "../support/proc";
import { REPO_ROOT } from "../support/repoRoot";
import { extendLab, labUplinks } from "./labx";
import { readSite, withUplinks } from "./sites";
import { BenchStack } from "./stack";

const TARGETS = ["203.0.113.68", "203.0.113.69"];
/** Design §9's table: the anchors' defaults, computed from their sources. */
export const ANCHORS = [
  { name: "mwan3 (code defaults; shipped config ≈120 s)", detect: "60–70 s", recover: "40–50 s" },
  { name: "pfSense dpinger", detect: "≈15 s", recover: "≈56 s" },
  { name: "OPNsense dpinger", detect: "≈16 s", recover: "≈45 s" },
  { name: "VyOS", detect: "5–10 s", recover: "≤5 s" },
];
export const GOALS = { detectS: 2, recoverS: 4, cpuPercent: 1 };

export interface HealthResults {
  runs: { detectS: number; monitorDownS: number; recoverS: number; monitorUpS: number }[];
  median: { detectS: number; monitorDownS: number; recoverS: number; monitorUpS: number };
  cpu: { uplinks: number; targets: number; intervalMs: number; seconds: number; percentOfCore: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const CUT =
  'table ip outage {\n  chain forward {\n    type filter hook forward priority 0; policy accept;\n    iifname "lan" oifname "wan" drop\n  }\n}\n';

async function state(lab: Lab, uplink: string): Promise<string> {
  return (await lab.exec("gw", `cat /run/multiwan/state/${uplink} 2>/dev/null || true`)).stdout.split(" ")[0];
}

/** Seconds from `t0` until `ok()` holds, polling; throws after 60 s. */
async function until(t0: number, what: string, ok: () => Promise<boolean>): Promise<number> {
  while (!(await ok())) {
    if (Date.now() - t0 > 60_000) throw new Error(`bench health: ${what} not within 60 s`);
    await sleep(20);
  }
  return (Date.now() - t0) / 1000;
}

/** One outage of isp1: both times, seen by the LAN client and by the monitor's state file. */
async function outage(lab: Lab): Promise<HealthResults["runs"][number]> {
  await lab.exec("m1", ["nft", "-f", "-"], { input: CUT, check: true });
  const t0 = Date.now();
  const monitorDown = until(t0, "isp1 down", async () => (await state(lab, "isp1")) === "down");
  // A batch's start time counts: the first batch in which every connection succeeded.
  let detectS = 0;
  await until(t0, "every new connection succeeds", async () => {
    const start = (Date.now() - t0) / 1000;
    const t = await lab.flows({ count: 12, timeoutMs: 300 });
    const ok = [...t].filter(([k]) => !k.startsWith("error:")).reduce((s, [, n]) => s + n, 0) === 12;
    if (ok) detectS = start;
    return ok;
  });
  const monitorDownS = await monitorDown;
  await lab.exec("m1", "nft delete table ip outage", { check: true });
  const t1 = Date.now();
  const monitorUp = until(t1, "isp1 up", async () => (await state(lab, "isp1")) === "up");
  let recoverS = 0;
  await until(t1, "isp1 carries connections again", async () => {
    const start = (Date.now() - t1) / 1000;
    const t = await lab.flows({ count: 12, timeoutMs: 300 });
    const ok = (t.get(SEEN_VIA.isp1) ?? 0) > 0;
    if (ok) recoverS = start;
    return ok;
  });
  const monitorUpS = await monitorUp;
  await sleep(1000);
  return { detectS, monitorDownS, recoverS, monitorUpS };
}

/** utime+stime+cutime+cstime in clock ticks of every process of the monitor in the gateway's namespace. */
async function monitorTicks(lab: Lab): Promise<number> {
  const pids = (await run(["ip", "netns", "pids", lab.ns.gw])).stdout.split(/\s+/).filter(Boolean);
  let ticks = 0;
  for (const p of pids) {
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, "utf8");
      if (!cmd.includes("/etc/multiwan/health.sh") && !cmd.startsWith("ping\0")) continue;
      const stat = fs.readFileSync(`/proc/${p}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      /* exited meanwhile */
    }
  }
  return ticks;
}

export async function measureHealth(quick: boolean, runs: number): Promise<HealthResults> {
  const lab = await labUp({ guard: true, log: () => {} });
  const stack = new BenchStack(lab, path.join(lab.dir, "bench-health"));
  try {
    await extendLab(lab, 3);
    const site = withUplinks(readSite(lab.stackFile), labUplinks(3));
    site.healthCheck = { targets: TARGETS };
    stack.setSite(site);
    await stack.up();
    lab.superviseHealthMonitor();
    for (const u of ["isp1", "isp2", "isp3"]) await until(Date.now(), `${u} watched`, async () => (await state(lab, u)) === "up");
    await sleep(3000);
    // CPU first, while all is quiet: 3 uplinks x 2 targets every 500 ms.
    const seconds = quick ? 5 : 30;
    const before = await monitorTicks(lab);
    await sleep(seconds * 1000);
    const percentOfCore = ((await monitorTicks(lab)) - before) / seconds; // 100 ticks per second = 100 %
    const results: HealthResults["runs"] = [];
    for (let i = 0; i < runs; i++) results.push(await outage(lab));
    const pick = (k: keyof HealthResults["runs"][number]) => median(results.map((r) => r[k]));
    return {
      runs: results,
      median: { detectS: pick("detectS"), monitorDownS: pick("monitorDownS"), recoverS: pick("recoverS"), monitorUpS: pick("monitorUpS") },
      cpu: { uplinks: 3, targets: 2, intervalMs: 500, seconds, percentOfCore },
    };
  } finally {
    const problem = await stack.destroyQuietly();
    await lab.down();
    if (problem) console.error(problem);
  }
}

export function healthReport(r: HealthResults): string {
  const s = (x: number) => `${x.toFixed(1)} s`;
  return [
    `Failover with the default health check (every 500 ms, down after 3 failed rounds, up after 5 answers), median of ${r.runs.length} run(s):`,
    "",
    "| | detect | recover |",
    "| --- | ---: | ---: |",
    `| multiwan: every new connection succeeds / isp1 carries connections again | ${s(r.median.detectS)} | ${s(r.median.recoverS)} |`,
    `| multiwan: the monitor's transition | ${s(r.median.monitorDownS)} | ${s(r.median.monitorUpS)} |`,
    `| goal | ≤ ${GOALS.detectS} s | ≤ ${GOALS.recoverS} s |`,
    ...ANCHORS.map((a) => `| ${a.name} | ${a.detect} | ${a.recover} |`),
    "",
    `Monitor CPU, ${r.cpu.uplinks} uplinks × ${r.cpu.targets} targets every ${r.cpu.intervalMs} ms, over ${r.cpu.seconds} s: ${r.cpu.percentOfCore.toFixed(2)} % of one core (goal < ${GOALS.cpuPercent} %)`,
    "",
  ].join("\n");
}

async function main(): Promise<void> {
  const quick = process.env.BENCH_QUICK === "1";
  const runs = Number(process.env.BENCH_RUNS ?? (quick ? 1 : 3));
  const out = process.env.BENCH_OUT ?? path.join(REPO_ROOT, "bench", "results");
  const r = await measureHealth(quick, runs);
  const report = healthReport(r);
  process.stdout.write(report);
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, "health.json"), `${JSON.stringify(r, null, 2)}\n`);
  fs.writeFileSync(path.join(out, "health.md"), report);
}

if (require.main === module)
  main().catch((e) => {
    console.error(`bench health failed: ${e instanceof Error ? e.stack : String(e)}`);
    process.exit(1);
  });
