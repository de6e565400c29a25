// Section 5: connection marks (issue 17). What they buy — long-lived LAN
// connections that survive a weight change — and what they cost in a first
// up. Each weight change is measured twice on the same namespaces:
//
// - with marks: `pulumi up` of the site, connections opened, `pulumi up` of
//   the new weights (exactly one resource updated), connections asked again;
// - without marks: the floor (one OpenSSH session, bench/floor.ts) runs the
//   rendered plan minus its ConnectionMark resources, the MultipathDefaultRoute
//   apply of the new weights, then the remove scripts: multiwan as it was
//   before issue 17, the baseline the issue measured (195 of 300 broken).
//
// A connection counts as broken when it no longer answers, or answers with
// another peer address than before the change (it left through another modem).
import { planSite } from "../lib/plan";
import { planResources } from "../lib/resources";
import { TOPOLOGY } from "../lab/lab";
import type { Ctx } from "./context";
import { applyAll, applyOne, floorRun, removeAll, type Without } from "./floor";
import { extendLab, labUplinks, seenVia } from "./labx";
import { parse, withUplinks } from "./sites";
import { CONFIRMATION, countRe } from "./stack";
import { kernelState, StateChecks, type KernelState } from "./state";
import { timing, type Timing } from "./stats";

export type MarkVariant = "with marks" | "without marks";
const NO_MARKS: Without = ["ConnectionMark"];

export interface SurvivalCase {
  /** "2:1 -> 1:2" */
  change: string;
  uplinks: number;
  from: number[];
  to: number[];
  variant: MarkVariant;
  /** How the site and the change were applied. */
  how: string;
  connections: number;
  /** Connections that did not answer right after connecting (not counted below). */
  firstErrors: number;
  /** Asked a second time before the change: broken without any change (should be 0). */
  brokenWithoutChange: number;
  /** After the change: no answer (error or timeout). */
  noAnswer: number;
  /** After the change: answered, but the server saw another peer address. */
  moved: number;
  broken: number;
  /** Per uplink the connection started on: how many, how many broke. */
  byUplink: { name: string; held: number; broken: number }[];
  /** Wall time of the change (pulumi up, or the floor's multipath apply). */
  changeMs: number;
}

export interface MarksResult {
  connections: number;
  survival: SurvivalCase[];
  /** The home site's rendered plan with and without its ConnectionMark resources, applied and removed by the floor. */
  floorCost: {
    runs: number;
    resources: Record<MarkVariant, number>;
    firstUp: Record<MarkVariant, Timing>;
    destroy: Record<MarkVariant, Timing>;
  };
  stateChecks: { compared: number; mismatches: string[] };
}

export function parseChanges(spec: string): { from: number[]; to: number[] }[] {
  return spec
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const [a, b] = s.split(">").map((x) => x.trim().split(":").map(Number));
      const ok = (w: number[] | undefined) =>
        w && w.length >= 2 && w.length <= 8 && w.every((x) => Number.isInteger(x) && x >= 1 && x <= 256);
      if (!ok(a) || !ok(b) || a.length !== b.length) throw new Error(`BENCH_MARK_CHANGES: ${s} is not <weights>><weights>, e.g. 2:1>1:2`);
      return { from: a, to: b };
    });
}

export async function marksSection(ctx: Ctx): Promise<MarksResult> {
  const { lab, stack, opts, log } = ctx;
  const changes = opts.quick ? opts.markChanges.slice(-1) : opts.markChanges;
  const count = opts.quick ? Math.min(60, opts.held) : opts.held;
  const maxUplinks = Math.max(2, ...changes.map((c) => c.from.length));
  await extendLab(lab, maxUplinks);
  const base = await kernelState(lab);
  const checks = new StateChecks();
  const mustEqual = (what: string, want: KernelState, got: KernelState) => {
    if (!checks.expect(what, want, got)) throw new Error(`marks: ${what}:\n${checks.mismatches.join("\n")}`);
  };
  const markRules = (st: KernelState) => st.rules.split("\n").filter((l) => /fwmark/.test(l)).length;
  const markTables = (st: KernelState) => (st.nft.match(/^table ip multiwan-mark-/gm) ?? []).length;
  await lab.startServer("net", "echo", TOPOLOGY.echoPort);

  const survival: SurvivalCase[] = [];
  for (const c of changes) {
    const uplinks = labUplinks(c.from.length);
    const rawFrom = withUplinks(ctx.home, uplinks, c.from);
    const rawTo = withUplinks(ctx.home, uplinks, c.to);
    const change = `${c.from.join(":")} -> ${c.to.join(":")}`;
    for (const variant of ["without marks", "with marks"] as const) {
      // Configure the gateway with the first weights.
      if (variant === "with marks") {
        stack.setSite(rawFrom);
        await stack.up();
      } else {
        await floorRun(ctx.gw, applyAll(parse(rawFrom), NO_MARKS), "apply all but the marks");
      }
      const st = await kernelState(lab);
      const want = variant === "with marks" ? uplinks.length : 0;
      if (markRules(st) !== want || markTables(st) !== want)
        throw new Error(`marks: ${change} ${variant}: ${markRules(st)} fwmark rule(s), ${markTables(st)} mark table(s), expected ${want}`);

      const held = await lab.hold({ count, port: TOPOLOGY.echoPort });
      let row: SurvivalCase;
      try {
        const known = new Map(uplinks.map((u) => [seenVia(u.name), u.name]));
        const firstErrors = held.first.filter((a) => !known.has(a)).length;
        const before = await held.check();
        const brokenWithoutChange = before.filter((a, i) => known.has(held.first[i]) && a !== held.first[i]).length;
        let changeMs: number;
        if (variant === "with marks") {
          stack.setSite(rawTo);
          changeMs = await stack.up(countRe("updated", 1 + CONFIRMATION));
        } else {
          changeMs = await floorRun(ctx.gw, applyOne(parse(rawTo), "multipath"), "apply multipath");
        }
        const after = await held.check();
        let noAnswer = 0;
        let moved = 0;
        const by = new Map(uplinks.map((u) => [u.name, { name: u.name, held: 0, broken: 0 }]));
        after.forEach((a, i) => {
          const was = known.get(held.first[i]);
          if (!was) return;
          const u = by.get(was)!;
          u.held++;
          if (a === held.first[i]) return;
          u.broken++;
          if (a.startsWith("error:")) noAnswer++;
          else moved++;
        });
        row = {
          change,
          uplinks: uplinks.length,
          from: c.from,
          to: c.to,
          variant,
          how:
            variant === "with marks"
              ? "pulumi up (the full plan), then pulumi up of the new weights"
              : "floor: the rendered plan without its ConnectionMark resources, then the MultipathDefaultRoute apply of the new weights",
          connections: count,
          firstErrors,
          brokenWithoutChange,
          noAnswer,
          moved,
          broken: noAnswer + moved,
          byUplink: [...by.values()],
          changeMs,
        };
      } finally {
        await held.close();
      }
      survival.push(row);
      log(
        `marks: ${change} ${variant}: ${row.broken} of ${row.connections - row.firstErrors} broken (${row.noAnswer} no answer, ${row.moved} moved; ${row.byUplink.map((u) => `${u.name} ${u.broken}/${u.held}`).join(", ")})${row.firstErrors ? `, ${row.firstErrors} never answered` : ""}`,
      );
      if (variant === "with marks") {
        await stack.destroy();
        stack.setSite(ctx.home);
      } else {
        await floorRun(ctx.gw, removeAll(parse(rawTo), NO_MARKS), "remove all but the marks");
      }
      mustEqual(`after ${change} ${variant}`, base, await kernelState(lab));
    }
  }

  // What the marks add to a first up's irreducible work: the home site's plan
  // with and without them, applied and removed by the floor, interleaved.
  const runs = opts.quick ? 1 : opts.runs;
  const home = parse(ctx.home);
  const samples = {
    apply: { "with marks": [] as number[], "without marks": [] as number[] },
    remove: { "with marks": [] as number[], "without marks": [] as number[] },
  };
  for (let i = 0; i < runs; i++) {
    const order: MarkVariant[] = i % 2 ? ["without marks", "with marks"] : ["with marks", "without marks"];
    for (const v of order) {
      const w = v === "with marks" ? [] : NO_MARKS;
      samples.apply[v].push(await floorRun(ctx.gw, applyAll(home, w), `apply all (${v})`));
      samples.remove[v].push(await floorRun(ctx.gw, removeAll(home, w), `remove all (${v})`));
      mustEqual(`floor cost run ${i + 1} ${v}: after remove`, base, await kernelState(lab));
    }
  }
  const all = planResources(planSite(home));
  return {
    connections: count,
    survival,
    floorCost: {
      runs,
      resources: { "with marks": all.length, "without marks": all.filter((r) => !NO_MARKS.includes(r.kind)).length },
      firstUp: { "with marks": timing(samples.apply["with marks"]), "without marks": timing(samples.apply["without marks"]) },
      destroy: { "with marks": timing(samples.remove["with marks"]), "without marks": timing(samples.remove["without marks"]) },
    },
    stateChecks: { compared: checks.compared, mismatches: checks.mismatches },
  };
}
