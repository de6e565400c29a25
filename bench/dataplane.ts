// Section 3: data plane. Flow split against the weights (TCP connections from
// the LAN client, tallied by the source address the internet's whoami server
// saw), and forwarding throughput LAN -> internet through the configured
// gateway as a ratio to plain single-path NAT forwarding on the same
// namespaces (iperf3, one TCP stream, bounded duration), and what each of the
// gateway's per-packet costs takes (its connection marks among them: the
// gateway is the full plan, `pulumi up` of the site).
import type { Ctx } from "./context";
import { extendLab, iperfOnce, labUplinks, plainForwarding, seenVia, startIperfServer, type IperfServer } from "./labx";
import type { Site } from "../lib/schema";
import { applyAll, applyOne, floorRun, removeAll, scriptsOfKind } from "./floor";
import { parse, withUplinks } from "./sites";
import { kernelState, StateChecks, type KernelState } from "./state";
import { median } from "./stats";

export interface SplitResult {
  weights: number[];
  label: string;
  connections: number;
  uplinks: {
    name: string;
    target: number;
    measured: number;
    count: number;
    deviationPoints: number;
    /** Binomial standard deviation of the share at this many connections, in points: sqrt(p(1-p)/n). */
    sigmaPoints: number;
  }[];
  errors: number;
  maxDeviationPoints: number;
}

export interface ThroughputResult {
  seconds: number;
  rounds: number;
  /** bits per second, every run; index i of every list is round i */
  plain: number[];
  gateway: number[];
  plainMedian: number;
  gatewayMedian: number;
  ratio: number;
  retransmits: { plain: number[]; gateway: number[] };
  /**
   * The gateway with one of its per-packet costs taken away, measured in the
   * same rounds (full mode only): what each costs.
   */
  ablation?: { name: string; short: string; bps: number[]; median: number; ratioToPlain: number }[];
}

export interface DataResult {
  splits: SplitResult[];
  throughput?: ThroughputResult;
  stateChecks: { compared: number; mismatches: string[] };
}

interface Ablation {
  name: string;
  short: string;
  off(ctx: Ctx, site: Site): Promise<unknown>;
  on(ctx: Ctx, site: Site): Promise<unknown>;
}

const ABLATIONS: Ablation[] = [
  {
    name: "without the connection marks (its ConnectionMark resources removed: mark tables and fwmark rules)",
    short: "no marks",
    off: (ctx, site) => floorRun(ctx.gw, scriptsOfKind(site, "ConnectionMark", "remove"), "remove ConnectionMark"),
    on: (ctx, site) => floorRun(ctx.gw, scriptsOfKind(site, "ConnectionMark", "apply"), "apply ConnectionMark"),
  },
  {
    name: "without the multiwan-forward nft table",
    short: "no forward table",
    off: (ctx) => ctx.lab.exec("gw", "nft delete table ip multiwan-forward", { check: true }),
    // put back with the Forward resource's own apply script
    on: (ctx, site) => floorRun(ctx.gw, applyOne(site, "forward"), "apply Forward"),
  },
  {
    name: "with rp_filter 0 instead of 2 (loose) on the uplinks",
    short: "rp_filter 0",
    off: (ctx) => ctx.lab.exec("gw", "for i in eth1 eth2; do echo 0 > /proc/sys/net/ipv4/conf/$i/rp_filter; done", { check: true }),
    on: (ctx) => ctx.lab.exec("gw", "for i in eth1 eth2; do echo 2 > /proc/sys/net/ipv4/conf/$i/rp_filter; done", { check: true }),
  },
];

export async function dataSection(ctx: Ctx): Promise<DataResult> {
  const { lab, stack, opts, log } = ctx;
  const flows = opts.quick ? Math.min(120, opts.flows) : opts.flows;
  const seconds = opts.quick ? 1 : opts.iperfSeconds;
  const rounds = opts.quick ? 1 : opts.iperfRuns;
  const splits = opts.splits;
  const maxUplinks = Math.max(2, ...splits.map((s) => s.length));
  await extendLab(lab, maxUplinks);
  const checks = new StateChecks();
  const base = await kernelState(lab);
  const result: DataResult = { splits: [], stateChecks: { compared: 0, mismatches: [] } };
  let server: IperfServer | undefined;
  let plainOff: (() => Promise<void>) | undefined;
  const mustEqual = (what: string, want: KernelState, got: KernelState) => {
    if (!checks.expect(what, want, got)) throw new Error(`data: ${what}:\n${checks.mismatches.join("\n")}`);
  };

  try {
    server = await startIperfServer(lab);
    for (const [k, weights] of splits.entries()) {
      const uplinks = labUplinks(weights.length);
      const raw = withUplinks(ctx.home, uplinks, weights);
      stack.setSite(raw);
      await stack.up();
      // Throughput with the first split (the home site, 2:1), in rounds that
      // interleave the gateway, its ablations and plain forwarding, so drift
      // of the machine (other work on its 2 cores) hits every path alike.
      // Plain forwarding needs the multiwan state gone: the floor's remove
      // and apply scripts take it away and put it back (the same kernel
      // state as pulumi's, checked every round).
      if (k === 0 && rounds > 0) {
        const site = parse(raw);
        const configured = await kernelState(lab);
        const tp = { plain: [] as number[], gateway: [] as number[], rp: [] as number[], rg: [] as number[] };
        const abl = opts.quick ? [] : ABLATIONS.map((a) => ({ ...a, bps: [] as number[] }));
        for (let i = 0; i < rounds; i++) {
          const g = await iperfOnce(lab, seconds);
          tp.gateway.push(g.bps);
          tp.rg.push(g.retransmits);
          for (const a of abl) {
            await a.off(ctx, site);
            try {
              a.bps.push((await iperfOnce(lab, seconds)).bps);
            } finally {
              await a.on(ctx, site);
            }
          }
          mustEqual(`gateway state after round ${i + 1}`, configured, await kernelState(lab));
          await floorRun(ctx.gw, removeAll(site), "remove all");
          plainOff = await plainForwarding(lab);
          try {
            const p = await iperfOnce(lab, seconds);
            tp.plain.push(p.bps);
            tp.rp.push(p.retransmits);
          } finally {
            const off = plainOff;
            plainOff = undefined;
            await off();
          }
          mustEqual(`state after plain forwarding, round ${i + 1}`, base, await kernelState(lab));
          await floorRun(ctx.gw, applyAll(site), "apply all");
          mustEqual(`gateway state re-applied, round ${i + 1}`, configured, await kernelState(lab));
          const gb = (x: number) => (x / 1e9).toFixed(2);
          log(
            `data: throughput round ${i + 1}/${rounds}: gateway ${gb(g.bps)}, ${abl.map((a) => `${a.name} ${gb(a.bps[i])}`).join(", ")}${abl.length ? ", " : ""}plain ${gb(tp.plain[i])} Gbit/s`,
          );
        }
        const pm = median(tp.plain);
        const gm = median(tp.gateway);
        result.throughput = {
          seconds,
          rounds,
          plain: tp.plain,
          gateway: tp.gateway,
          plainMedian: pm,
          gatewayMedian: gm,
          ratio: gm / pm,
          retransmits: { plain: tp.rp, gateway: tp.rg },
          ablation: abl.length
            ? abl.map((a) => ({ name: a.name, short: a.short, bps: a.bps, median: median(a.bps), ratioToPlain: median(a.bps) / pm }))
            : undefined,
        };
      }
      const tally = await lab.flows({ count: flows });
      const total = weights.reduce((a, b) => a + b, 0);
      let errors = 0;
      const known = new Map(uplinks.map((u) => [seenVia(u.name), u.name]));
      for (const [seen, n] of tally) if (!known.has(seen)) errors += n;
      const ok = flows - errors;
      const rows = uplinks.map((u, i) => {
        const count = tally.get(seenVia(u.name)) ?? 0;
        const measured = ok ? count / ok : NaN;
        const target = weights[i] / total;
        return {
          name: u.name,
          target,
          measured,
          count,
          deviationPoints: (measured - target) * 100,
          sigmaPoints: Math.sqrt((target * (1 - target)) / Math.max(1, ok)) * 100,
        };
      });
      const split: SplitResult = {
        weights,
        label: weights.join(":"),
        connections: flows,
        uplinks: rows,
        errors,
        maxDeviationPoints: Math.max(...rows.map((r) => Math.abs(r.deviationPoints))),
      };
      result.splits.push(split);
      log(
        `data: split ${split.label} over ${flows} connections: ${rows.map((r) => `${r.name} ${(r.measured * 100).toFixed(1)}% (target ${(r.target * 100).toFixed(1)}%)`).join(", ")}${errors ? `, ${errors} failed` : ""}`,
      );
    }
    await stack.destroy();
    stack.setSite(ctx.home);
    mustEqual("after destroy vs pristine", base, await kernelState(lab));
  } finally {
    if (plainOff) await plainOff().catch(() => undefined);
    if (server) await server.stop();
  }
  result.stateChecks = { compared: checks.compared, mismatches: checks.mismatches };
  return result;
}
