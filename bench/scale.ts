// Section 2: scale. A site with many uplinks (8 by default; the lab is
// extended at run time, see labx.ts) and 10 / 100 / 1,000 pinned routes:
// first up, no-op up, a one-route change, destroy — Pulumi and the floor,
// same end state after each step — and the growth per added route.
import { planSite } from "../lib/plan";
import { planResources } from "../lib/resources";
import type { Ctx } from "./context";
import { applyAll, applyOne, floorRun, removeAll } from "./floor";
import { extendLab, labUplinks } from "./labx";
import { changeOneRoute, parse, scaleSite } from "./sites";
import { CONFIRMATION, FRAME_RESOURCES, countRe } from "./stack";
import { kernelState, StateChecks, type KernelState } from "./state";
import { linearFit, timing, type Timing } from "./stats";

export const SCALE_OPS = ["first up", "no-op up", "one-route change", "destroy"] as const;
export type ScaleOp = (typeof SCALE_OPS)[number];

export interface ScalePoint {
  routes: number;
  resources: number;
  pulumi: Partial<Record<ScaleOp, Timing>>;
  floor: Partial<Record<ScaleOp, Timing>>;
  /** `pulumi preview` of the applied site (no SSH): the fixed part of every command at this size. */
  pulumiPreview?: Timing;
}

/** First up of the largest site with engine options that cut per-command work. */
export interface ScaleVariant {
  name: string;
  args: string[];
  env: Record<string, string>;
  routes: number;
  firstUp: Timing;
}

export interface ScaleResult {
  uplinks: number;
  runs: number;
  points: ScalePoint[];
  variants: ScaleVariant[];
  /** Least-squares growth per added route (ms/route) over the measured sizes, per method and op. */
  slopes: { pulumi: Partial<Record<ScaleOp, number>>; floor: Partial<Record<ScaleOp, number>> };
  stateChecks: { compared: number; mismatches: string[] };
}

export async function scaleSection(ctx: Ctx): Promise<ScaleResult> {
  const { stack, opts, log, lab } = ctx;
  const nUplinks = opts.quick ? Math.min(3, opts.scaleUplinks) : opts.scaleUplinks;
  const sizes = opts.quick ? [10] : opts.scaleRoutes;
  const runs = opts.quick ? 1 : opts.scaleRuns;
  await extendLab(lab, nUplinks);
  const uplinks = labUplinks(nUplinks);
  const pristine = await kernelState(lab);
  const checks = new StateChecks();
  const points: ScalePoint[] = [];
  const applied = new Map<number, KernelState>();

  for (const routes of sizes) {
    const raw = scaleSite(ctx.home, uplinks, routes);
    const site = parse(raw);
    const changed = changeOneRoute(raw);
    const changedSite = parse(changed.site);
    const nCustom = planResources(planSite(site)).length;
    const n = nCustom + FRAME_RESOURCES;
    const samples: Record<"pulumi" | "floor", Partial<Record<ScaleOp, number[]>>> = { pulumi: {}, floor: {} };
    const add = (m: "pulumi" | "floor", op: ScaleOp, ms: number) => {
      samples[m][op] ??= [];
      samples[m][op].push(ms);
    };
    const previews: number[] = [];
    for (let i = 0; i < runs; i++) {
      const st: Record<string, Partial<Record<string, KernelState>>> = { pulumi: {}, floor: {} };
      const cycles = {
        pulumi: async () => {
          stack.setSite(raw);
          add("pulumi", "first up", await stack.up(countRe("created", n)));
          st.pulumi.applied = await kernelState(lab);
          add("pulumi", "no-op up", await stack.up(countRe("unchanged", n)));
          previews.push(await stack.timed(["preview", "--expect-no-changes"], countRe("unchanged", n)));
          stack.setSite(changed.site);
          add("pulumi", "one-route change", await stack.up(countRe("updated", 1 + CONFIRMATION)));
          st.pulumi.changed = await kernelState(lab);
          add("pulumi", "destroy", await stack.destroy(countRe("deleted", n)));
          st.pulumi.removed = await kernelState(lab);
        },
        floor: async () => {
          add("floor", "first up", await floorRun(ctx.gw, applyAll(site), "apply all"));
          st.floor.applied = await kernelState(lab);
          add("floor", "no-op up", await floorRun(ctx.gw, applyAll(site), "apply all again"));
          add(
            "floor",
            "one-route change",
            await floorRun(ctx.gw, applyOne(changedSite, `pinned-${changed.uplink}`), "apply one PinnedRoutes"),
          );
          st.floor.changed = await kernelState(lab);
          add("floor", "destroy", await floorRun(ctx.gw, removeAll(changedSite), "remove all"));
          st.floor.removed = await kernelState(lab);
        },
      };
      for (const m of i % 2 ? (["floor", "pulumi"] as const) : (["pulumi", "floor"] as const)) {
        await cycles[m]();
        log(
          `scale ${routes} routes run ${i + 1}/${runs} ${m}: ${SCALE_OPS.map((op) => `${op} ${Math.round(samples[m][op]!.at(-1)!)} ms`).join(", ")}`,
        );
        if (!checks.expect(`scale ${routes} run ${i + 1} ${m} after destroy vs pristine`, pristine, st[m].removed!)) {
          throw new Error(`scale: ${m} did not bring the gateway back to its pristine state:\n${checks.mismatches.join("\n")}`);
        }
      }
      checks.expect(`scale ${routes} run ${i + 1} floor applied vs pulumi`, st.pulumi.applied, st.floor.applied!);
      applied.set(routes, st.pulumi.applied!);
      checks.expect(`scale ${routes} run ${i + 1} floor one-route change vs pulumi`, st.pulumi.changed, st.floor.changed!);
    }
    const point: ScalePoint = { routes, resources: nCustom, pulumi: {}, floor: {} };
    for (const m of ["pulumi", "floor"] as const) for (const op of SCALE_OPS) point[m][op] = timing(samples[m][op]!);
    point.pulumiPreview = timing(previews);
    points.push(point);
  }

  // What the engine options that skip work would give at the largest size.
  const variants: ScaleVariant[] = [];
  const largest = Math.max(...sizes);
  const VARIANTS: { name: string; args: string[]; env: Record<string, string> }[] = [
    { name: "up --skip-preview", args: ["--skip-preview"], env: {} },
    { name: "PULUMI_SKIP_CHECKPOINTS=true", args: [], env: { PULUMI_SKIP_CHECKPOINTS: "true" } },
    { name: "both", args: ["--skip-preview"], env: { PULUMI_SKIP_CHECKPOINTS: "true" } },
  ];
  if (!opts.quick) {
    const raw = scaleSite(ctx.home, uplinks, largest);
    const n = planResources(planSite(parse(raw))).length + FRAME_RESOURCES;
    for (const v of VARIANTS) {
      const times: number[] = [];
      for (let i = 0; i < Math.min(3, runs); i++) {
        stack.setSite(raw);
        times.push(await stack.up(countRe("created", n), v.args, v.env));
        checks.expect(`scale ${largest} ${v.name} applied vs pulumi`, applied.get(largest), await kernelState(lab));
        await stack.destroy(countRe("deleted", n));
        if (!checks.expect(`scale ${largest} ${v.name} after destroy vs pristine`, pristine, await kernelState(lab))) {
          throw new Error(`scale: destroy after ${v.name} did not restore the gateway:\n${checks.mismatches.join("\n")}`);
        }
      }
      variants.push({ ...v, routes: largest, firstUp: timing(times) });
      log(`scale ${largest} routes, first up with ${v.name}: ${times.map((t) => Math.round(t)).join(", ")} ms`);
    }
  }

  const slopes: ScaleResult["slopes"] = { pulumi: {}, floor: {} };
  if (points.length > 1) {
    for (const m of ["pulumi", "floor"] as const) {
      for (const op of SCALE_OPS) slopes[m][op] = linearFit(points.map((p) => [p.routes, p[m][op]!.median])).slope;
    }
  }
  return { uplinks: nUplinks, runs, points, variants, slopes, stateChecks: { compared: checks.compared, mismatches: checks.mismatches } };
}
