// Turns the bench's results into what people read: text tables, the targets
// with their verdicts, derived figures (where the time goes), SVG charts and
// the results block of bench/README.md.
import fs from "node:fs";
import path from "node:path";
import type { BreakdownResult } from "./breakdown";
import type { ControlResult, Method } from "./control";
import type { DataResult } from "./dataplane";
import type { MarksResult, SurvivalCase } from "./marks";
import { barChartSpec, lineChartSpec } from "./charts";
import { SCALE_OPS, type ScaleResult } from "./scale";
import { FRAME_RESOURCES } from "./stack";
import { markdownTable, ms, pct, ratio, table } from "./stats";
import { renderSvg } from "./vega";

export interface Target {
  id: string;
  goal: string;
  /** The measured ratio or value the goal is about. */
  value: number | null;
  limit: number;
  /** "<=" or ">=" */
  sense: "<=" | ">=";
  met: boolean | null;
  measured: string;
}

export interface Derived {
  /** Engine/CLI cost per extra resource in a no-op up (no SSH there): (no-op(big) - no-op(home)) / extra resources. */
  enginePerResourceMs?: number;
  /** Fixed cost of any program command: preview of the home site (no SSH, 11 resources). */
  previewFixedMs?: number;
  /** SSH work of a first up on one connection, sequentially: preflight + every apply. */
  sshSequentialApplyMs?: number;
  /** What a first up costs beyond its preview: the update pass with its SSH work. */
  firstUpMinusPreviewMs?: number;
}

export interface Results {
  meta: Record<string, unknown>;
  control?: ControlResult;
  scale?: ScaleResult;
  data?: DataResult;
  breakdown?: BreakdownResult;
  marks?: MarksResult;
  derived: Derived;
  targets: Target[];
  errors: string[];
}

const med = (t: { median: number } | undefined) => t?.median ?? NaN;

/** The home site's figures before connection marks (bench/baselines/before-marks.json: a committed run of the previous release). */
export interface Baseline {
  what: string;
  source: string;
  measuredAt: string;
  runs: number;
  resources: number;
  stackResources: number;
  times: { pulumi: Partial<Record<string, { median: number }>>; floor: Partial<Record<string, { median: number }>> };
  throughput?: { ratio: number };
}

export function readBaseline(): Baseline | undefined {
  const f = path.join(__dirname, "..", "..", "bench", "baselines", "before-marks.json");
  return fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, "utf8")) as Baseline) : undefined;
}

/** Pairs of the survival section: each weight change without and with marks. */
function survivalPairs(m: MarksResult): { change: string; uplinks: number; without?: SurvivalCase; with?: SurvivalCase }[] {
  const out: { change: string; uplinks: number; without?: SurvivalCase; with?: SurvivalCase }[] = [];
  for (const c of m.survival) {
    let p = out.find((x) => x.change === c.change);
    if (!p) {
      p = { change: c.change, uplinks: c.uplinks };
      out.push(p);
    }
    if (c.variant === "with marks") p.with = c;
    else p.without = c;
  }
  return out;
}

const held = (c: SurvivalCase) => c.connections - c.firstErrors;
const brokenOf = (c: SurvivalCase | undefined) => (c ? `${c.broken} of ${held(c)}` : "-");

export function derive(r: Results): Derived {
  const d: Derived = {};
  const c = r.control;
  if (c) {
    d.previewFixedMs = med(c.times.pulumi.preview);
    d.firstUpMinusPreviewMs = med(c.times.pulumi["first up"]) - med(c.times.pulumi.preview);
  }
  const small = r.scale?.points[0];
  if (c && small && small.resources !== c.resources && c.times.pulumi["no-op up"]) {
    d.enginePerResourceMs = (med(small.pulumi["no-op up"]) - med(c.times.pulumi["no-op up"])) / (small.resources - c.resources);
  }
  if (r.breakdown) d.sshSequentialApplyMs = r.breakdown.preflightMs + r.breakdown.perResourceApply.reduce((s, x) => s + x.ms, 0);
  for (const k of Object.keys(d) as (keyof Derived)[]) if (!Number.isFinite(d[k])) delete d[k];
  return d;
}

function target(id: string, goal: string, value: number | null, sense: "<=" | ">=", limit: number, measured: string): Target {
  const met = value === null || !Number.isFinite(value) ? null : sense === "<=" ? value <= limit : value >= limit;
  return { id, goal, value: value !== null && Number.isFinite(value) ? +value.toFixed(4) : null, limit, sense, met, measured };
}

export function targets(r: Results): Target[] {
  const out: Target[] = [];
  const c = r.control;
  const p = c?.times.pulumi;
  const a = c?.times.ansible;
  const noopRatio = p?.["no-op up"] && a?.["no-op up"] ? med(p["no-op up"]) / med(a["no-op up"]) : null;
  out.push(
    target(
      "noop-vs-ansible",
      "no-op up <= 0.5x Ansible",
      noopRatio,
      "<=",
      0.5,
      noopRatio === null
        ? "not measured"
        : `${ms(med(p!["no-op up"]))} vs ${ms(med(a!["no-op up"]))} = ${ratio(med(p!["no-op up"]), med(a!["no-op up"]))}`,
    ),
  );
  const firstRatio = p?.["first up"] && a?.["first up"] ? med(p["first up"]) / med(a["first up"]) : null;
  out.push(
    target(
      "first-up-vs-ansible",
      "first up <= Ansible",
      firstRatio,
      "<=",
      1,
      firstRatio === null
        ? "not measured"
        : `${ms(med(p!["first up"]))} vs ${ms(med(a!["first up"]))} = ${ratio(med(p!["first up"]), med(a!["first up"]))}`,
    ),
  );
  const pts = r.scale?.points ?? [];
  const biggest = pts.length ? pts.reduce((x, y) => (y.routes > x.routes ? y : x)) : undefined;
  const floorRatio = biggest ? med(biggest.pulumi["first up"]) / med(biggest.floor["first up"]) : null;
  out.push(
    target(
      "routes-vs-floor",
      "1,000 pinned routes applied in <= 3x the floor",
      floorRatio,
      "<=",
      3,
      biggest
        ? `${biggest.routes} routes: ${ms(med(biggest.pulumi["first up"]))} vs floor ${ms(med(biggest.floor["first up"]))} = ${ratio(med(biggest.pulumi["first up"]), med(biggest.floor["first up"]))}${biggest.routes !== 1000 ? " (not 1,000 routes: quick/partial run)" : ""}`
        : "not measured",
    ),
  );
  const changeRatios = pts.map((x) => ({ routes: x.routes, r: med(x.pulumi["one-route change"]) / med(x.pulumi["no-op up"]) }));
  const worst = changeRatios.length ? Math.max(...changeRatios.map((x) => x.r)) : null;
  out.push(
    target(
      "change-vs-noop",
      "a one-route change <= 1.5x a no-op up",
      worst,
      "<=",
      1.5,
      changeRatios.length ? changeRatios.map((x) => `${x.routes} routes ${x.r.toFixed(2)}x`).join(", ") : "not measured",
    ),
  );
  const splits = r.data?.splits ?? [];
  const dev = splits.length ? Math.max(...splits.map((s) => s.maxDeviationPoints)) : null;
  out.push(
    target(
      "flow-split",
      "flow shares within ±3 points at 1,200 connections",
      dev,
      "<=",
      3,
      splits.length
        ? splits
            .map((s) => {
              const w = s.uplinks.reduce((x, y) => (Math.abs(y.deviationPoints) > Math.abs(x.deviationPoints) ? y : x));
              return `${s.label}: max ${s.maxDeviationPoints.toFixed(1)} points (${w.name}, ${(Math.abs(w.deviationPoints) / w.sigmaPoints).toFixed(1)}σ) over ${s.connections}`;
            })
            .join("; ")
        : "not measured",
    ),
  );
  const pairs = r.marks ? survivalPairs(r.marks) : [];
  const withMarks = pairs.filter((p) => p.with);
  out.push(
    target(
      "marks-survival",
      "connections broken by a weight change, with marks: 0",
      withMarks.length ? Math.max(...withMarks.map((p) => p.with!.broken)) : null,
      "<=",
      0,
      withMarks.length
        ? withMarks.map((p) => `${p.change}: ${brokenOf(p.with)} (without marks ${brokenOf(p.without)})`).join("; ")
        : "not measured",
    ),
  );
  const tp = r.data?.throughput;
  out.push(
    target(
      "throughput",
      "throughput with connection marks >= 95% of plain forwarding",
      tp ? tp.ratio : null,
      ">=",
      0.95,
      tp ? `${(tp.gatewayMedian / 1e9).toFixed(2)} vs ${(tp.plainMedian / 1e9).toFixed(2)} Gbit/s = ${pct(tp.ratio)}` : "not measured",
    ),
  );
  return out;
}

// ------------------------------------------------------------------ tables

export function tables(r: Results): { title: string; rows: string[][]; note?: string }[] {
  const out: { title: string; rows: string[][]; note?: string }[] = [];
  const c = r.control;
  if (c) {
    const hasA = Object.keys(c.times.ansible).length > 0;
    const rows = [["operation", "pulumi", "floor", ...(hasA ? ["ansible"] : []), "pulumi/floor", ...(hasA ? ["pulumi/ansible"] : [])]];
    for (const op of c.ops) {
      const t = (m: Method) => med(c.times[m][op]);
      rows.push([
        op,
        ms(t("pulumi")),
        ms(t("floor")),
        ...(hasA ? [ms(t("ansible"))] : []),
        ratio(t("pulumi"), t("floor")),
        ...(hasA ? [ratio(t("pulumi"), t("ansible"))] : []),
      ]);
    }
    out.push({
      title: `Control plane, home site (${c.resources} resources; weight change: ${c.weightChange}); median of ${c.runs} run(s)`,
      rows,
      note: `floor preview = ${c.notes["floor preview"]}; ansible preview = ${c.notes["ansible preview"]}. End state compared ${c.stateChecks.compared} times, ${c.stateChecks.mismatches.length} mismatch(es).`,
    });
  }
  const s = r.scale;
  if (s) {
    const rows = [["routes", "resources", ...SCALE_OPS.flatMap((op) => [`${op} pulumi`, "floor", "ratio"]), "preview pulumi"]];
    for (const p of s.points) {
      rows.push([
        String(p.routes),
        String(p.resources),
        ...SCALE_OPS.flatMap((op) => [ms(med(p.pulumi[op])), ms(med(p.floor[op])), ratio(med(p.pulumi[op]), med(p.floor[op]))]),
        ms(med(p.pulumiPreview)),
      ]);
    }
    if (s.points.length > 1) {
      const f = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "-" : `${x.toFixed(2)} ms`);
      rows.push(["per route", "", ...SCALE_OPS.flatMap((op) => [f(s.slopes.pulumi[op]), f(s.slopes.floor[op]), ""]), ""]);
    }
    out.push({
      title: `Scale: ${s.uplinks} uplinks, pinned routes spread over them; median of ${s.runs} run(s); last row = least-squares growth per added route`,
      rows,
      note: `End state compared ${s.stateChecks.compared} times, ${s.stateChecks.mismatches.length} mismatch(es).`,
    });
    if (s.variants?.length) {
      const big = s.points.find((p) => p.routes === s.variants[0].routes);
      const fl = med(big?.floor["first up"]);
      const vrows = [["first up with", "pulumi", "floor", "ratio"]];
      if (big) vrows.push(["defaults (as above)", ms(med(big.pulumi["first up"])), ms(fl), ratio(med(big.pulumi["first up"]), fl)]);
      for (const v of s.variants) vrows.push([v.name, ms(v.firstUp.median), ms(fl), ratio(v.firstUp.median, fl)]);
      out.push({
        title: `Scale: first up of the ${s.variants[0].routes}-route site with engine options that skip work (median of ${s.variants[0].firstUp.runs.length})`,
        rows: vrows,
      });
    }
  }
  const d = r.data;
  if (d) {
    const rows = [["split", "uplink", "target", "measured", "connections", "deviation", "binomial σ", "deviation/σ"]];
    for (const sp of d.splits) {
      for (const u of sp.uplinks) {
        rows.push([
          sp.label,
          u.name,
          pct(u.target),
          pct(u.measured),
          String(u.count),
          `${u.deviationPoints >= 0 ? "+" : ""}${u.deviationPoints.toFixed(1)} pt`,
          `${u.sigmaPoints.toFixed(2)} pt`,
          (u.deviationPoints / u.sigmaPoints).toFixed(2),
        ]);
      }
      if (sp.errors) rows.push([sp.label, "failed", "", "", String(sp.errors), ""]);
    }
    out.push({
      title: `Data plane: flow split (${d.splits[0]?.connections ?? 0} TCP connections per split)`,
      rows,
      note: "σ: the sampling error of a share over this many independent connections, sqrt(p(1-p)/n); per-flow hashing cannot do better than that.",
    });
    const tp = d.throughput;
    if (tp) {
      const g = (x: number) => `${(x / 1e9).toFixed(2)} Gbit/s`;
      const runs = (xs: number[]) => xs.map((x) => (x / 1e9).toFixed(2)).join(" ");
      out.push({
        title: `Data plane: forwarding throughput LAN -> internet (iperf3, 1 TCP stream, ${tp.seconds} s each, ${tp.rounds} interleaved round(s))`,
        rows: [
          ["path", "median", "to plain", "runs (Gbit/s)"],
          ["plain single-path NAT", g(tp.plainMedian), "100%", runs(tp.plain)],
          ["multiwan gateway (2:1, the full plan: connection marks included)", g(tp.gatewayMedian), pct(tp.ratio), runs(tp.gateway)],
          ...(tp.ablation ?? []).map((a) => [`gateway ${a.name}`, g(a.median), pct(a.ratioToPlain), runs(a.bps)]),
        ],
        note: `Retransmits per run: plain ${tp.retransmits.plain.join(" ")}; gateway ${tp.retransmits.gateway.join(" ")}.`,
      });
    }
  }
  const b = r.breakdown;
  if (b) {
    const rows = [
      ["what", "time"],
      ["OpenSSH session running `true` (client start, handshake, auth, exec)", ms(b.ssh.opensshSession.median)],
      ["ssh2 connect + auth + first exec (the provider's pool)", ms(b.ssh.ssh2Connect.median)],
      ["ssh2 one more exec channel (`true`) on the open connection", ms(b.ssh.ssh2Exec.median)],
      ["ssh2 eight `true` execs at once on the open connection", ms(b.ssh.ssh2Exec8Parallel.median)],
      ["preflight script (one exec)", ms(b.preflightMs)],
    ];
    for (const x of b.perResourceApply) rows.push([`apply ${x.kind} ${x.key} (one exec)`, ms(x.ms)]);
    rows.push([
      "sum: preflight + every apply, sequential on one connection",
      ms(b.preflightMs + b.perResourceApply.reduce((s2, x) => s2 + x.ms, 0)),
    ]);
    rows.push(["sum: every remove, sequential", ms(b.perResourceRemove.reduce((s2, x) => s2 + x.ms, 0))]);
    rows.push(["`pulumi version` through the wrapper (no program, no engine)", ms(b.cliVersion.median)]);
    rows.push(["`pulumi version`, the bare CLI binary", ms(b.cliBareVersion.median)]);
    rows.push(["provider plugin: spawn until it listens (node dist/provider/main.js)", ms(b.providerStart.median)]);
    rows.push(["program load: node + @pulumi/pulumi + dist/index.js", ms(b.programLoad.median)]);
    if (b.noopSkipPreview) rows.push(["no-op `up --skip-preview` (one program run instead of two)", ms(b.noopSkipPreview.median)]);
    const l = b.channelLoad;
    if (l)
      rows.push([
        `${l.execs} short execs at once through the pool: failed with "Channel open failure" after its retries`,
        `${l.failed} of ${l.execs}`,
      ]);
    const d2 = r.derived;
    if (d2.previewFixedMs !== undefined) rows.push(["preview (CLI + program + provider plugin, no SSH)", ms(d2.previewFixedMs)]);
    if (d2.enginePerResourceMs !== undefined)
      rows.push(["engine cost per extra resource in a no-op up (no SSH)", `${d2.enginePerResourceMs.toFixed(1)} ms`]);
    if (d2.firstUpMinusPreviewMs !== undefined)
      rows.push(["first up minus preview (update pass incl. its SSH work)", ms(d2.firstUpMinusPreviewMs)]);
    out.push({ title: "Where the time goes (home site, through the lab's ssh relay)", rows });
  }
  const m = r.marks;
  if (m) {
    const pairs = survivalPairs(m);
    const share = (c: SurvivalCase | undefined) => (c && held(c) ? pct(c.broken / held(c)) : "-");
    out.push({
      title: `Connection marks: long-lived LAN connections broken by a weight change (${m.connections} held connections per case)`,
      rows: [
        ["weight change", "uplinks", "without marks", "share", "with marks", "share", "with / without"],
        ...pairs.map((p) => [
          p.change,
          String(p.uplinks),
          brokenOf(p.without),
          share(p.without),
          brokenOf(p.with),
          share(p.with),
          p.with && p.without ? (p.without.broken ? pct(p.with.broken / p.without.broken) : p.with.broken ? "inf" : "-") : "-",
        ]),
      ],
      note: [
        "Broken = no answer after the change, or an answer from another peer address (the connection left through another modem).",
        "Without marks: the floor runs the rendered plan minus its ConnectionMark resources (multiwan before issue 17), then the new weights' MultipathDefaultRoute apply; with marks: pulumi up, then pulumi up of the new weights (1 updated).",
        `Issue 17 measured 195 of 300 without marks for 3:2:1 -> 1:2:3.`,
      ].join(" "),
    });
    const by = (c: SurvivalCase | undefined) => (c ? c.byUplink.map((u) => `${u.name} ${u.broken}/${u.held}`).join(", ") : "-");
    out.push({
      title: "Connection marks: the cases in detail",
      rows: [
        [
          "weight change",
          "variant",
          "held",
          "no answer",
          "moved",
          "broken by uplink it started on",
          "broken before the change",
          "change took",
        ],
        ...m.survival.map((c) => [
          c.change,
          c.variant,
          `${held(c)}${c.firstErrors ? ` (+${c.firstErrors} never answered)` : ""}`,
          String(c.noAnswer),
          String(c.moved),
          by(c),
          String(c.brokenWithoutChange),
          ms(c.changeMs),
        ]),
      ],
      note: `End state compared ${m.stateChecks.compared} times, ${m.stateChecks.mismatches.length} mismatch(es).`,
    });
    const base = readBaseline();
    const fc = m.floorCost;
    const rows = [["figure", "before marks", "with marks", "added", "measured how"]];
    const nowRes = c ? c.resources : fc.resources["with marks"];
    rows.push([
      "resources in the home stack (provider resources)",
      base
        ? `${base.stackResources} (${base.resources})`
        : `${fc.resources["without marks"] + FRAME_RESOURCES} (${fc.resources["without marks"]})`,
      `${nowRes + 2} (${nowRes})`,
      `+${nowRes - (base?.resources ?? fc.resources["without marks"])}`,
      "one ConnectionMark per uplink; before: the previous release",
    ]);
    const ops = ["first up", "no-op up", "weight change", "destroy"] as const;
    for (const op of ops) {
      const now = med(c?.times.pulumi[op]);
      const then = med(base?.times.pulumi[op]);
      if (!Number.isFinite(now)) continue;
      rows.push([
        `pulumi ${op} (median)`,
        ms(then),
        ms(now),
        Number.isFinite(now) && Number.isFinite(then) ? `${now >= then ? "+" : ""}${ms(now - then)} (${ratio(now, then)})` : "-",
        `before: committed run of ${base?.measuredAt.slice(0, 10) ?? "?"} (not re-measured); with: this run's control section`,
      ]);
    }
    for (const [label, t] of [
      ["floor first up (one ssh script)", fc.firstUp],
      ["floor destroy (one ssh script)", fc.destroy],
    ] as const) {
      const a = t["without marks"].median;
      const b = t["with marks"].median;
      rows.push([
        label,
        ms(a),
        ms(b),
        `${b >= a ? "+" : ""}${ms(b - a)} (${ratio(b, a)})`,
        `this run, the home plan without / with its ConnectionMark resources, median of ${fc.runs}`,
      ]);
    }
    const applies = b?.perResourceApply.filter((x) => x.kind === "ConnectionMark") ?? [];
    if (applies.length)
      rows.push([
        "ConnectionMark applies, one exec each (the provider's pool)",
        "-",
        ms(applies.reduce((s2, x) => s2 + x.ms, 0)),
        `${applies.length} exec(s)`,
        "this run's breakdown section",
      ]);
    out.push({
      title: "Connection marks: the added cost of a pulumi up (home site)",
      rows,
      note: base
        ? `Before marks: ${base.source} (measured ${base.measuredAt} on the same kind of machine, median of ${base.runs}); this machine is shared, so the Pulumi rows compare two runs at different loads. The floor rows are both measured in this run.`
        : undefined,
    });
  }
  const t = r.targets;
  out.push({
    title: "Targets (reported, not asserted)",
    rows: [
      ["target", "measured", "verdict"],
      ...t.map((x) => [x.goal, x.measured, x.met === null ? "not measured" : x.met ? "met" : "MISSED"]),
    ],
  });
  return out;
}

/** The provider's pool retries channels sshd refuses: any such failure is a regression. */
function channelNote(r: Results): string | undefined {
  const f = r.meta.channelOpenFailures as string[] | undefined;
  if (!f) return undefined;
  return `pulumi commands that failed with sshd's "Channel open failure": ${f.length} of ${r.meta.pulumiCommands}${f.length ? ` (${f.join(", ")})` : ""}.`;
}

export function textReport(r: Results): string {
  const parts = tables(r).map((t) => `${t.title}\n\n${table(t.rows)}${t.note ? `\n${t.note}` : ""}`);
  const cn = channelNote(r);
  if (cn) parts.push(cn);
  if (r.errors.length) parts.push(`Errors:\n${r.errors.map((e) => `  - ${e}`).join("\n")}`);
  return `${parts.join("\n\n")}\n`;
}

export function markdownReport(r: Results): string {
  const m = r.meta as Record<string, string>;
  const head = `Measured ${m.finishedAt} on ${m.machine}; ${m.pulumi}; ${m.ansible ?? "no Ansible"}; total bench time ${m.durationS} s.`;
  const parts = tables(r).map((t) => `**${t.title}**\n\n${markdownTable(t.rows)}${t.note ? `\n\n${t.note}` : ""}`);
  const cn = channelNote(r);
  if (cn) parts.push(cn);
  if (r.errors.length) parts.push(`**Errors**\n\n${r.errors.map((e) => `- ${e}`).join("\n")}`);
  return `${[head, ...parts].join("\n\n")}\n`;
}

// ------------------------------------------------------------------ plots

/** Writes one SVG chart per measured section into dir; returns the files written. */
export async function plots(r: Results, dir: string): Promise<string[]> {
  const written: string[] = [];
  const save = async (name: string, spec: Parameters<typeof renderSvg>[0]) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, await renderSvg(spec));
    written.push(f);
  };
  const c = r.control;
  if (c) {
    const methods = (["pulumi", "floor", "ansible"] as const).filter((m) => Object.keys(c.times[m]).length);
    await save(
      "control.svg",
      barChartSpec({
        title: "Control plane, home site (median)",
        yLabel: "seconds",
        categories: c.ops.map((x) => x),
        series: methods.map((m) => ({
          name: m === "floor" ? "floor (one ssh script)" : m,
          values: c.ops.map((op) => med(c.times[m][op]) / 1000),
        })),
      }),
    );
  }
  const s = r.scale;
  if (s?.points.length) {
    await save(
      "scale.svg",
      lineChartSpec({
        title: `Scale: ${s.uplinks} uplinks, time vs pinned routes (median)`,
        yLabel: "seconds",
        xLabel: "pinned routes (log scale)",
        logX: true,
        series: [
          ...SCALE_OPS.map((op) => ({
            name: `pulumi ${op}`,
            points: s.points.map((p) => [p.routes, med(p.pulumi[op]) / 1000] as [number, number]),
          })),
          ...(["first up", "destroy"] as const).map((op) => ({
            name: `floor ${op}`,
            dashed: true,
            points: s.points.map((p) => [p.routes, med(p.floor[op]) / 1000] as [number, number]),
          })),
        ],
      }),
    );
  }
  const d = r.data;
  if (d?.splits.length) {
    const cats = d.splits.flatMap((sp) => sp.uplinks.map((u) => `${sp.label} ${u.name}`));
    await save(
      "flows.svg",
      barChartSpec({
        title: "Flow split: share of new connections per uplink",
        yLabel: "percent of connections",
        categories: cats,
        series: [
          { name: "target (weight)", values: d.splits.flatMap((sp) => sp.uplinks.map((u) => u.target * 100)) },
          { name: "measured", values: d.splits.flatMap((sp) => sp.uplinks.map((u) => u.measured * 100)) },
        ],
      }),
    );
  }
  if (d?.throughput) {
    const tp = d.throughput;
    await save(
      "throughput.svg",
      barChartSpec({
        title: "Throughput LAN -> internet (iperf3)",
        yLabel: "Gbit/s",
        categories: ["plain NAT", "multiwan", ...(tp.ablation ?? []).map((a) => `multiwan, ${a.short ?? "variant"}`)],
        series: [
          {
            name: "median throughput",
            values: [tp.plainMedian / 1e9, tp.gatewayMedian / 1e9, ...(tp.ablation ?? []).map((a) => a.median / 1e9)],
          },
        ],
        refs: [{ value: (tp.plainMedian * 0.95) / 1e9, label: "95% of plain" }],
      }),
    );
  }
  const mk = r.marks;
  if (mk?.survival.length) {
    const pairs = survivalPairs(mk);
    const share = (x: SurvivalCase | undefined) => (x && held(x) ? (x.broken / held(x)) * 100 : 0);
    await save(
      "marks.svg",
      barChartSpec({
        title: "Long-lived connections broken by a weight change",
        yLabel: "percent of held connections",
        categories: pairs.map((p) => p.change),
        series: [
          { name: "without marks", values: pairs.map((p) => share(p.without)) },
          { name: "with marks", values: pairs.map((p) => share(p.with)) },
        ],
      }),
    );
  }
  return written;
}

const START = "<!-- bench:results:start -->";
const END = "<!-- bench:results:end -->";

/** Replaces the results block of bench/README.md (between its markers). */
export function updateReadme(readme: string, md: string): boolean {
  if (!fs.existsSync(readme)) return false;
  const text = fs.readFileSync(readme, "utf8");
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a < 0 || b < a) return false;
  fs.writeFileSync(readme, `${text.slice(0, a + START.length)}\n${md}\n${text.slice(b)}`);
  return true;
}
