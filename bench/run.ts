// `npm run bench` (node dist/bench/run.js): brings up its own lab, measures
// the control plane (Pulumi vs the floor vs Ansible), scale (pinned routes),
// the data plane (flow split, forwarding throughput), where the time goes and
// what connection marks buy (connections kept through a weight change) and cost;
// prints tables, writes bench/results/latest.json (+ latest.md, SVG charts)
// and refreshes the results block of bench/README.md. The lab, the stack's
// resources and every process started are removed in `finally`.
//
// Environment (all optional):
//   BENCH_RUNS=5              repetitions of each control-plane figure (median reported)
//   BENCH_SCALE_RUNS=BENCH_RUNS  repetitions of each scale figure
//   BENCH_SCALE_ROUTES=10,100,1000
//   BENCH_SCALE_UPLINKS=8     (2..8)
//   BENCH_FLOWS=1200          connections per flow-split measurement
//   BENCH_SPLITS=2:1,3:2:1    weights per split (3 or more uplinks use the extended lab)
//   BENCH_IPERF_SECONDS=3     BENCH_IPERF_RUNS=5 (interleaved rounds: gateway, its ablations, plain)
//   BENCH_HELD=300            long-lived connections held across each weight change
//   BENCH_MARK_CHANGES=2:1>1:2,3:2:1>1:2:3  weight changes measured with and without connection marks
//   BENCH_SECTIONS=control,scale,data,breakdown,marks
//   BENCH_ANSIBLE=auto        auto: when installed; 1: required; 0: never
//   BENCH_QUICK=1             smoke mode: one run, home site first up + destroy,
//                             10 routes over 3 uplinks, 120 connections, 1 s iperf,
//                             60 held connections across the last weight change only
//   BENCH_OUT=bench/results   where latest.json/.md and the SVG charts go
// `node dist/bench/run.js --replot` redraws tables, Markdown and plots from
// BENCH_OUT/latest.json without measuring.
//
//   BENCH_README=1            refresh bench/README.md (default: full runs into the default BENCH_OUT)
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { labUp, type Lab } from "../lab/lab";
import { AnsiblePeer, ansibleAvailable } from "./ansible";
import { breakdownSection } from "./breakdown";
import { labGateway, type Ctx, type Options } from "./context";
import { controlSection } from "./control";
import { dataSection } from "./dataplane";
import { marksSection, parseChanges } from "./marks";
import { killAll, run, scratchDir } from "../support/proc";
import { derive, markdownReport, plots, targets, textReport, updateReadme, type Results } from "./report";
import { scaleSection } from "./scale";
import { readSite } from "./sites";
import { REPO_ROOT } from "../support/repoRoot";
import { BenchStack } from "./stack";
import { kernelState } from "./state";

const DEFAULT_OUT = path.join(REPO_ROOT, "bench", "results");

function intEnv(name: string, dflt: number, min = 0): number {
  const v = process.env[name];
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be a whole number >= ${min}, not ${JSON.stringify(v)}`);
  return n;
}

export function options(env = process.env): Options {
  const quick = env.BENCH_QUICK === "1" || env.BENCH_QUICK === "true";
  const runs = intEnv("BENCH_RUNS", quick ? 1 : 5, 1);
  const sections = new Set(
    (env.BENCH_SECTIONS ?? "control,scale,data,breakdown,marks")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  );
  for (const s of sections)
    if (!["control", "scale", "data", "breakdown", "marks"].includes(s)) throw new Error(`BENCH_SECTIONS: unknown section ${s}`);
  const splits = (env.BENCH_SPLITS ?? "2:1,3:2:1").split(",").map((s) => s.trim().split(":").map(Number));
  for (const s of splits) {
    if (s.length < 2 || s.length > 8 || s.some((w) => !Number.isInteger(w) || w < 1 || w > 256))
      throw new Error(`BENCH_SPLITS: ${s.join(":")} is not 2 to 8 weights of 1..256`);
  }
  const out = path.resolve(env.BENCH_OUT ?? DEFAULT_OUT);
  const ansible = (env.BENCH_ANSIBLE ?? "auto") as Options["ansible"];
  if (!["auto", "0", "1"].includes(ansible)) throw new Error("BENCH_ANSIBLE must be auto, 0 or 1");
  const nat = (env.BENCH_NAT ?? "nftables") as Options["nat"];
  if (nat !== "nftables" && nat !== "iptables") throw new Error("BENCH_NAT must be nftables or iptables");
  return {
    quick,
    runs,
    scaleRuns: intEnv("BENCH_SCALE_RUNS", runs, 1),
    scaleRoutes: (env.BENCH_SCALE_ROUTES ?? "10,100,1000")
      .split(",")
      .map((x) => Number(x.trim()))
      .filter((x) => Number.isInteger(x) && x > 0),
    scaleUplinks: Math.min(8, Math.max(2, intEnv("BENCH_SCALE_UPLINKS", 8, 2))),
    flows: intEnv("BENCH_FLOWS", 1200, 1),
    splits,
    iperfSeconds: intEnv("BENCH_IPERF_SECONDS", 3, 1),
    iperfRuns: intEnv("BENCH_IPERF_RUNS", 5, 0),
    held: intEnv("BENCH_HELD", 300, 1),
    markChanges: parseChanges(env.BENCH_MARK_CHANGES ?? "2:1>1:2,3:2:1>1:2:3"),
    sections: sections as Options["sections"],
    ansible,
    out,
    updateReadme: env.BENCH_README !== undefined ? env.BENCH_README === "1" : !quick && out === DEFAULT_OUT,
    nat,
  };
}

function cpuModel(): string {
  const cpus = os.cpus();
  return `${cpus.length} x ${cpus[0]?.model ?? "cpu"}`;
}

async function main(): Promise<number> {
  const opts = options();
  const t0 = Date.now();
  const log = (msg: string) => process.stderr.write(`bench +${((Date.now() - t0) / 1000).toFixed(1)}s: ${msg}\n`);
  const errors: string[] = [];
  const results: Results = { meta: {}, derived: {}, targets: [], errors };

  let ansibleInfo: { ok: boolean; version?: string; reason?: string } = { ok: false, reason: "BENCH_ANSIBLE=0" };
  if (opts.ansible !== "0" && opts.sections.has("control")) {
    ansibleInfo = await ansibleAvailable();
    if (!ansibleInfo.ok && opts.ansible === "1") throw new Error(`BENCH_ANSIBLE=1 but ${ansibleInfo.reason}`);
    if (ansibleInfo.ok && opts.nat !== "nftables") ansibleInfo = { ok: false, reason: "the Ansible peer implements nftables only" };
    if (!ansibleInfo.ok) log(`Ansible peer skipped: ${ansibleInfo.reason}`);
  }
  const pulumiVersion = (
    await run([process.execPath, path.join(REPO_ROOT, "dist", "cli", "pulumi.js"), "version"], {
      cwd: REPO_ROOT,
      timeoutMs: 300_000 /* may build the CLI first */,
    })
  ).stdout.trim();

  let lab: Lab | undefined;
  let stack: BenchStack | undefined;
  let ansible: AnsiblePeer | undefined;
  const work = scratchDir(fs.mkdtempSync(path.join(os.tmpdir(), "mwbench-")));
  const labs: string[] = [];
  try {
    lab = await labUp({ nat: opts.nat, guard: true, log: (m) => (process.env.BENCH_VERBOSE ? log(`lab: ${m}`) : undefined) });
    labs.push(lab.name);
    log(`lab ${lab.name} is up (ssh 127.0.0.1:${lab.sshPort})`);
    const pristine = await kernelState(lab);
    const gw = labGateway(lab);
    stack = new BenchStack(lab, path.join(work, "stack"));
    const home = readSite(lab.stackFile);
    if (ansibleInfo.ok) ansible = new AnsiblePeer(lab, gw, (await lab.snapshot()).sysctls);
    const ctx: Ctx = { lab, gw, stack, opts, home, ansible, log };

    // Each section leaves the gateway pristine (checked); a failed one is
    // reported and the others still run.
    const section = async <T>(name: string, f: () => Promise<T>): Promise<T | undefined> => {
      log(`== ${name}`);
      try {
        return await f();
      } catch (e) {
        const msg = `${name}: ${e instanceof Error ? e.message : String(e)}`;
        errors.push(msg);
        log(`FAILED ${msg}`);
        const cleanup = await stack!.destroyQuietly();
        if (cleanup) errors.push(`${name}: ${cleanup}`);
        return undefined;
      }
    };
    // The control plane and the breakdown run on the lab as lab/lab.ts made
    // it; scale and data extend it with more uplinks afterwards.
    if (opts.sections.has("control")) results.control = await section("control plane", () => controlSection(ctx, pristine));
    if (opts.sections.has("breakdown")) results.breakdown = await section("breakdown", () => breakdownSection(ctx, pristine));
    if (opts.sections.has("scale")) results.scale = await section("scale", () => scaleSection(ctx));
    if (opts.sections.has("data")) results.data = await section("data plane", () => dataSection(ctx));
    if (opts.sections.has("marks")) results.marks = await section("connection marks", () => marksSection(ctx));
  } finally {
    if (stack) {
      const cleanup = await stack.destroyQuietly().catch((e: unknown) => String(e));
      if (cleanup) errors.push(cleanup);
    }
    if (ansible) await ansible.cleanup().catch(() => undefined);
    if (lab) {
      const report = await lab.down({ log: () => undefined });
      if (report.leftovers.length) errors.push(`lab ${lab.name} teardown left: ${report.leftovers.join("; ")}`);
      log(`lab ${lab.name} is down`);
    }
    killAll();
    fs.rmSync(work, { recursive: true, force: true });
  }

  const finished = new Date();
  results.meta = {
    startedAt: new Date(t0).toISOString(),
    finishedAt: finished.toISOString(),
    durationS: Math.round((finished.getTime() - t0) / 1000),
    machine: `${cpuModel()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, node ${process.version}`,
    pulumi: `Pulumi CLI ${pulumiVersion}`,
    ansible: ansibleInfo.ok ? ansibleInfo.version : null,
    ansibleSkipped: ansibleInfo.ok ? undefined : ansibleInfo.reason,
    labs,
    options: { ...opts, sections: [...opts.sections] },
    pulumiCommands: stack?.commands ?? 0,
    channelOpenFailures: stack?.channelOpenFailures ?? [],
  };
  results.derived = derive(results);
  results.targets = targets(results);

  const text = textReport(results);
  process.stdout.write(`\n${text}`);
  fs.mkdirSync(opts.out, { recursive: true });
  const json = path.join(opts.out, "latest.json");
  fs.writeFileSync(`${json}.tmp`, `${JSON.stringify(results, null, 2)}\n`);
  fs.renameSync(`${json}.tmp`, json);
  const md = markdownReport(results);
  fs.writeFileSync(path.join(opts.out, "latest.md"), md);
  const charts = await plots(results, opts.out);
  process.stdout.write(
    `\nwrote ${[json, path.join(opts.out, "latest.md"), ...charts].map((f) => path.relative(process.cwd(), f) || f).join(", ")}\n`,
  );
  if (opts.updateReadme && updateReadme(path.join(REPO_ROOT, "bench", "README.md"), md))
    process.stdout.write("updated the results block of bench/README.md\n");
  return errors.length ? 1 : 0;
}

/** `--replot`: tables, Markdown and plots again from BENCH_OUT/latest.json, without measuring. */
async function replot(): Promise<number> {
  const opts = options();
  const results = JSON.parse(fs.readFileSync(path.join(opts.out, "latest.json"), "utf8")) as Results;
  results.derived = derive(results);
  results.targets = targets(results);
  process.stdout.write(textReport(results));
  const md = markdownReport(results);
  fs.writeFileSync(path.join(opts.out, "latest.md"), md);
  const charts = await plots(results, opts.out);
  process.stdout.write(`\nwrote ${[path.join(opts.out, "latest.md"), ...charts].join(", ")}\n`);
  if (opts.updateReadme && updateReadme(path.join(REPO_ROOT, "bench", "README.md"), md))
    process.stdout.write("updated the results block of bench/README.md\n");
  return 0;
}

if (require.main === module) {
  (process.argv[2] === "--replot" ? replot() : main()).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      killAll();
      process.exit(1);
    },
  );
}
