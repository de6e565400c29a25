// `npm run bench:pinned` (node dist/bench/pinned.js): the first `up` of a
// site with 20,000 pinned routes (issue 15, item 5; goal ≤ 3x the floor).
// The routes come from a route file the site names (`pinnedRoutes: [{file}]`),
// all on isp2, on the lab's home site. Each run, in alternating order:
//
//   pulumi: `up` of the whole site (the stack, the provider, every resource),
//           then `destroy` (timed too, for the record)
//   floor:  the same plan's apply scripts as ONE script in ONE OpenSSH
//           session, then its remove scripts (bench/floor.ts: the floor of the
//           main bench), so the pins go out in the same `ip -batch`
//
// and checks that both leave the same kernel state. Environment: BENCH_RUNS
// (3), BENCH_ROUTES (20000), BENCH_OUT (bench/results): pinned.json, pinned.md.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type Lab, labUp } from "../lab/lab";
import { REPO_ROOT } from "../support/repoRoot";
import { labGateway } from "./context";
import { applyAll, floorRun, removeAll } from "./floor";
import { parse, readSite } from "./sites";
import { BenchStack, FRAME_RESOURCES, countRe } from "./stack";
import { kernelState } from "./state";
import { planResources } from "../lib/resources";
import { planSite } from "../lib/plan";
import { loadSiteFromConfig, SITE_KEY } from "../lib/siteSource";

export const GOAL_RATIO = 3;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main() {
  const runs = Number(process.env.BENCH_RUNS ?? 3);
  const routes = Number(process.env.BENCH_ROUTES ?? 20_000);
  const out = process.env.BENCH_OUT ?? path.join(REPO_ROOT, "bench", "results");
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "mw-bench-pinned-"));
  const file = path.join(work, "isp2.txt");
  fs.writeFileSync(file, `${Array.from({ length: routes }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.0/24`).join("\n")}\n`);
  const lab: Lab = await labUp({ guard: true, log: () => {} });
  const stack = new BenchStack(lab, path.join(work, "stack"));
  try {
    const gw = labGateway(lab);
    const raw = readSite(lab.stackFile) as Record<string, any>;
    raw.pinnedRoutes.push({ file, uplink: "isp2" });
    stack.setSite(raw as never);
    // What the program plans from it: the route file expanded, as index.ts does.
    const loaded = loadSiteFromConfig({ [SITE_KEY]: raw }, work);
    const site = parse(loaded.site as never);
    const n = planResources(planSite(site)).length + FRAME_RESOURCES;
    const pristine = await kernelState(lab);
    const times = { pulumiUp: [] as number[], pulumiDestroy: [] as number[], floorUp: [] as number[], floorDestroy: [] as number[] };
    let mismatches = 0;
    for (let i = 0; i < runs; i++) {
      const order = i % 2 ? (["floor", "pulumi"] as const) : (["pulumi", "floor"] as const);
      const applied: Record<string, string> = {};
      for (const m of order) {
        if (m === "pulumi") {
          times.pulumiUp.push(await stack.up(countRe("created", n)));
          applied.pulumi = JSON.stringify(await kernelState(lab));
          times.pulumiDestroy.push(await stack.destroy(countRe("deleted", n)));
        } else {
          times.floorUp.push(await floorRun(gw, applyAll(site), "apply all"));
          applied.floor = JSON.stringify(await kernelState(lab));
          times.floorDestroy.push(await floorRun(gw, removeAll(site), "remove all"));
        }
        if (JSON.stringify(await kernelState(lab)) !== JSON.stringify(pristine)) throw new Error(`${m} left the gateway changed`);
      }
      if (applied.pulumi !== applied.floor) mismatches++;
      console.log(
        `run ${i + 1}: first up pulumi ${s(times.pulumiUp[i])}, floor ${s(times.floorUp[i])}; destroy pulumi ${s(times.pulumiDestroy[i])}, floor ${s(times.floorDestroy[i])}`,
      );
    }
    const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) as Record<keyof typeof times, number>;
    const ratio = m.pulumiUp / m.floorUp;
    const summary = {
      routes,
      resources: n,
      runs,
      goalRatio: GOAL_RATIO,
      times,
      median: m,
      firstUpRatio: ratio,
      destroyRatio: m.pulumiDestroy / m.floorDestroy,
      mismatches,
    };
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, "pinned.json"), `${JSON.stringify(summary, null, 2)}\n`);
    const md = [
      `# ${routes.toLocaleString("en-US")} pinned routes: first up vs the floor (issue 15, item 5)`,
      "",
      `Goal: first up ≤ ${GOAL_RATIO}x the floor. The lab's home site plus ${routes.toLocaleString("en-US")} destinations on isp2 from a route file (${n} resources); median of ${runs} run(s), pulumi and floor alternating. Floor: the plan's apply scripts as one script in one OpenSSH session (bench/floor.ts), the pins in the same \`ip -batch\`.`,
      "",
      "| operation | pulumi | floor | pulumi/floor |",
      "| --- | ---: | ---: | ---: |",
      `| first up | ${s(m.pulumiUp)} | ${s(m.floorUp)} | ${ratio.toFixed(2)}x |`,
      `| destroy | ${s(m.pulumiDestroy)} | ${s(m.floorDestroy)} | ${(m.pulumiDestroy / m.floorDestroy).toFixed(2)}x |`,
      "",
      `Runs (first up, pulumi / floor): ${times.pulumiUp.map((p, i) => `${s(p)} / ${s(times.floorUp[i])}`).join("; ")}. Kernel state after up compared ${runs} time(s), ${mismatches} mismatch(es); the gateway was back to pristine after every destroy.`,
      "",
    ].join("\n");
    fs.writeFileSync(path.join(out, "pinned.md"), md);
    console.log(md);
    console.log(`first up: pulumi ${s(m.pulumiUp)}, floor ${s(m.floorUp)}, ratio ${ratio.toFixed(2)}x (goal ≤ ${GOAL_RATIO}x)`);
  } finally {
    const err = await stack.destroyQuietly();
    if (err) console.error(err);
    await lab.down();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module)
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
