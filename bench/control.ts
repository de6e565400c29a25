// Section 1: control plane on the home site. Each operation three ways —
// Pulumi (the product), the floor (the whole rendered plan as one script in
// one SSH session) and Ansible (the peer) — each reaching the same kernel
// state after every step (compared with lab snapshots).
import { planSite } from "../lib/plan";
import { planResources } from "../lib/resources";
import type { Ctx } from "./context";
import { applyAll, applyOne, floorRun, removeAll, renderOnlyMs } from "./floor";
import { parse, withWeight, type RawSite } from "./sites";
import { CONFIRMATION, FRAME_RESOURCES, countRe } from "./stack";
import { kernelState, StateChecks, type KernelState } from "./state";
import { timing, type Timing } from "./stats";

export const CONTROL_OPS = ["first up", "no-op up", "preview", "weight change", "destroy"] as const;
export type ControlOp = (typeof CONTROL_OPS)[number];
export type Method = "pulumi" | "floor" | "ansible";

export interface ControlResult {
  runs: number;
  /** Custom resources of the site (plus 2 in the stack: the stack and the component). */
  resources: number;
  weightChange: string;
  ops: ControlOp[];
  times: Record<Method, Partial<Record<ControlOp, Timing>>>;
  /** What each method's preview/no-op stands for. */
  notes: Record<string, string>;
  ansibleRecaps?: Record<string, { ok: number; changed: number; skipped: number }>;
  stateChecks: { compared: number; mismatches: string[] };
}

/** Kernel states after each step of one method's cycle. */
type Steps = Partial<Record<"applied" | "noop" | "weighted" | "removed", KernelState>>;

export async function controlSection(ctx: Ctx, pristine: KernelState): Promise<ControlResult> {
  const { stack, opts, log } = ctx;
  const home: RawSite = ctx.home;
  const homeSite = parse(home);
  const firstWeight = (home.uplinks as RawSite[])[0];
  // "An up that changes one weight": isp1 2 -> 1 (2:1 becomes 1:1).
  const weighted: RawSite = withWeight(home, firstWeight.name, firstWeight.weight === 1 ? 2 : 1);
  const weightedSite = parse(weighted);
  const nCustom = planResources(planSite(homeSite)).length;
  const n = nCustom + FRAME_RESOURCES;
  const ops: ControlOp[] = opts.quick ? ["first up", "destroy"] : [...CONTROL_OPS];
  const runs = opts.quick ? 1 : opts.runs;
  const samples: Record<Method, Partial<Record<ControlOp, number[]>>> = { pulumi: {}, floor: {}, ansible: {} };
  const add = (m: Method, op: ControlOp, ms: number) => {
    samples[m][op] ??= [];
    samples[m][op].push(ms);
  };
  const checks = new StateChecks();
  const recaps: Record<string, { ok: number; changed: number; skipped: number }> = {};
  const has = (op: ControlOp) => ops.includes(op);

  const cycles: Record<Method, (() => Promise<Steps>) | undefined> = {
    pulumi: async () => {
      const st: Steps = {};
      stack.setSite(home);
      add("pulumi", "first up", await stack.up(countRe("created", n)));
      st.applied = await kernelState(ctx.lab);
      if (has("no-op up")) {
        add("pulumi", "no-op up", await stack.up(countRe("unchanged", n)));
        st.noop = await kernelState(ctx.lab);
      }
      if (has("preview")) add("pulumi", "preview", await stack.timed(["preview", "--expect-no-changes"], countRe("unchanged", n)));
      if (has("weight change")) {
        stack.setSite(weighted);
        add("pulumi", "weight change", await stack.up(countRe("updated", 1 + CONFIRMATION)));
        st.weighted = await kernelState(ctx.lab);
      }
      add("pulumi", "destroy", await stack.destroy(countRe("deleted", n)));
      st.removed = await kernelState(ctx.lab);
      stack.setSite(home);
      return st;
    },
    floor: async () => {
      const st: Steps = {};
      add("floor", "first up", await floorRun(ctx.gw, applyAll(homeSite), "apply all"));
      st.applied = await kernelState(ctx.lab);
      if (has("no-op up")) {
        add("floor", "no-op up", await floorRun(ctx.gw, applyAll(homeSite), "apply all again"));
        st.noop = await kernelState(ctx.lab);
      }
      if (has("preview")) add("floor", "preview", renderOnlyMs(home, parse));
      let last = homeSite;
      if (has("weight change")) {
        add("floor", "weight change", await floorRun(ctx.gw, applyOne(weightedSite, "multipath"), "apply multipath"));
        st.weighted = await kernelState(ctx.lab);
        last = weightedSite;
      }
      add("floor", "destroy", await floorRun(ctx.gw, removeAll(last), "remove all"));
      st.removed = await kernelState(ctx.lab);
      return st;
    },
    ansible: ctx.ansible
      ? async () => {
          const a = ctx.ansible!;
          const st: Steps = {};
          const note = (op: string, r: { ms: number; recap: { ok: number; changed: number; skipped: number } }) => {
            recaps[op] = { ok: r.recap.ok, changed: r.recap.changed, skipped: r.recap.skipped };
            return r.ms;
          };
          const first = await a.apply(homeSite);
          if (first.recap.changed === 0) throw new Error("ansible first run changed nothing");
          add("ansible", "first up", note("first up", first));
          st.applied = await kernelState(ctx.lab);
          if (has("no-op up")) {
            const r = await a.apply(homeSite);
            if (r.recap.changed !== 0)
              throw new Error(`ansible no-op run reported ${r.recap.changed} changed task(s): the playbook is not idempotent`);
            add("ansible", "no-op up", note("no-op up", r));
            st.noop = await kernelState(ctx.lab);
          }
          if (has("preview")) add("ansible", "preview", note("preview", await a.checkMode(homeSite)));
          let last = homeSite;
          if (has("weight change")) {
            const r = await a.apply(weightedSite);
            if (r.recap.changed !== 1) throw new Error(`ansible weight change reported ${r.recap.changed} changed task(s), expected 1`);
            add("ansible", "weight change", note("weight change", r));
            st.weighted = await kernelState(ctx.lab);
            last = weightedSite;
          }
          add("ansible", "destroy", note("destroy", await a.remove(last)));
          st.removed = await kernelState(ctx.lab);
          return st;
        }
      : undefined,
  };

  const methods = (["pulumi", "floor", "ansible"] as const).filter((m) => cycles[m]);
  for (let i = 0; i < runs; i++) {
    // Rotate the order each run, so no method always runs first (warm caches) or last.
    const order = methods.map((_, k) => methods[(k + i) % methods.length]);
    const steps: Partial<Record<Method, Steps>> = {};
    for (const m of order) {
      steps[m] = await cycles[m]!();
      const t = (op: ControlOp) => samples[m][op]?.[samples[m][op]!.length - 1];
      log(`control run ${i + 1}/${runs} ${m}: ${ops.map((op) => `${op} ${Math.round(t(op) ?? NaN)} ms`).join(", ")}`);
      if (!checks.expect(`control run ${i + 1} ${m} after destroy vs pristine`, pristine, steps[m]!.removed!)) {
        throw new Error(`control: ${m} did not bring the gateway back to its pristine state:\n${checks.mismatches.join("\n")}`);
      }
    }
    const ref = steps.pulumi;
    for (const m of methods.filter((x) => x !== "pulumi")) {
      for (const k of ["applied", "noop", "weighted"] as const)
        checks.expect(`control run ${i + 1} ${m} ${k} vs pulumi`, ref?.[k], steps[m]![k]!);
    }
    if (ref?.noop) checks.expect(`control run ${i + 1} pulumi no-op vs first up`, ref.applied, ref.noop);
  }

  const times = { pulumi: {}, floor: {}, ansible: {} } as ControlResult["times"];
  for (const m of methods) for (const op of ops) if (samples[m][op]) times[m][op] = timing(samples[m][op]!);
  return {
    runs,
    resources: nCustom,
    weightChange: `${firstWeight.name} weight ${firstWeight.weight} -> ${firstWeight.weight === 1 ? 2 : 1}`,
    ops,
    times,
    notes: {
      "floor first up": "all apply scripts of the plan concatenated, one `ssh ... sh -s`",
      "floor no-op up": "the same script again",
      "floor preview": "validate + plan + render in process (preview never contacts the gateway)",
      "floor weight change": "the MultipathDefaultRoute apply script alone",
      "floor destroy": "all remove scripts in reverse order",
      "ansible preview": "ansible-playbook --check --diff",
    },
    ansibleRecaps: ctx.ansible ? recaps : undefined,
    stateChecks: { compared: checks.compared, mismatches: checks.mismatches },
  };
}
