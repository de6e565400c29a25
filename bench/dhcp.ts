// `npm run bench:dhcp` (node dist/bench/dhcp.js): how fast a DHCP uplink
// follows a new lease (issue 20; goal ≤ 2 s). Its own lab: isp2 gets its
// address from dnsmasq on modem 2 (lab/dhcp.ts), the site (the lab's, isp2 on
// dhcp) is applied by running its rendered scripts, and the lease watcher runs
// under the lab's supervisor. Each run hands out the other address and router
// and makes the client renew; it measures
//
//   follow:  from the new address appearing on eth2 until our rule (from the
//            new address) and nexthop (the new router) are in place and a
//            ping from the new address is answered (the old router is gone);
//            polled, so it includes one poll's latency (a few exec's, ~50 ms)
//   total:   from the renewal request until then (includes the DHCP exchange)
//
// Environment: BENCH_RUNS (5), BENCH_OUT (bench/results): dhcp.json, dhcp.md;
// BENCH_JOURNAL=1 prints the watcher's journal at the end.
import fs from "node:fs";
import path from "node:path";
import { type LeaseOffer, gatewayLease, startDhcpClient, startDhcpServer } from "../lab/dhcp";
import { type Lab, labUp } from "../lab/lab";
import { planSite } from "../lib/plan";
import { renderScripts } from "../lib/render";
import { planResources } from "../lib/resources";
import { parseSiteOrThrow } from "../lib/validate";
import { REPO_ROOT } from "../support/repoRoot";
import { readSite } from "./sites";

/** Routers beside the modem's own 192.168.2.254, which stays: it is the DHCP server the client renews with. */
const OFFERS: LeaseOffer[] = [
  { address: "192.168.2.50", router: "192.168.2.252" },
  { address: "192.168.2.60", router: "192.168.2.253" },
];
export const GOAL_S = 2;
const TARGET = "203.0.113.10";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function until(t0: number, what: string, ok: () => Promise<boolean>): Promise<number> {
  while (!(await ok())) {
    if (Date.now() - t0 > 60_000) throw new Error(`bench dhcp: ${what} not within 60 s`);
    await sleep(10);
  }
  return (Date.now() - t0) / 1000;
}

async function main() {
  const runs = Number(process.env.BENCH_RUNS ?? 5);
  const out = process.env.BENCH_OUT ?? path.join(REPO_ROOT, "bench", "results");
  const lab: Lab = await labUp({ guard: true, log: () => {} });
  try {
    const gw = async (cmd: string) => (await lab.exec("gw", cmd, { check: true })).stdout.trim();
    await gw("ip -4 addr flush dev eth2 scope global");
    await lab.exec("m2", `ip addr add ${OFFERS[0].router}/24 dev lan`, { check: true });
    let server = startDhcpServer(lab, OFFERS[0]);
    const client = startDhcpClient(lab);
    await until(Date.now(), "the first lease", async () => (await gatewayLease(lab)) === `${OFFERS[0].address}/24`);
    const site = readSite(lab.stackFile) as Record<string, any>;
    site.uplinks[1].address = "dhcp";
    delete site.uplinks[1].gateway;
    delete site.healthCheck;
    delete site.portForwards;
    for (const r of planResources(planSite(parseSiteOrThrow(site))))
      await lab.exec("gw", ["sh", "-s"], { input: renderScripts(r.kind, r.entry as never).apply, check: true });
    lab.superviseLeaseWatcher();
    await until(Date.now(), "the watcher", async () => lab.leaseJournal().includes("multiwan-dhcp: watching"));
    const results: { followS: number; totalS: number }[] = [];
    for (let i = 1; i <= runs; i++) {
      const offer = OFFERS[i % 2];
      const old = OFFERS[(i + 1) % 2];
      // The old router goes away with the old lease: only our routes through the new one can carry the ping.
      await lab.exec("m2", `ip addr add ${offer.router}/24 dev lan && ip addr del ${old.router}/24 dev lan`, { check: true });
      process.kill(server, "SIGTERM");
      await sleep(300);
      server = startDhcpServer(lab, offer);
      await sleep(700);
      const t0 = Date.now();
      process.kill(client, "SIGUSR1");
      await until(t0, "the new address", async () => (await gatewayLease(lab)) === `${offer.address}/24`);
      const t1 = Date.now();
      // Our state on the new lease (rule, nexthop), and a ping out through it answered.
      await until(t1, "our rule and nexthop on the new lease, and a ping through it", async () => {
        const state = await gw("ip -N rule show pref 1002; ip route show table 200 proto 77 default");
        if (!state.includes(`from ${offer.address} lookup 102`) || !state.includes(`via ${offer.router} dev eth2`)) return false;
        return (await lab.exec("gw", `ping -n -c1 -W0.2 -I ${offer.address} ${TARGET}`)).code === 0;
      });
      const t2 = Date.now();
      results.push({ followS: (t2 - t1) / 1000, totalS: (t2 - t0) / 1000 });
      console.log(
        `run ${i}: ${offer.address} via ${offer.router}: follow ${((t2 - t1) / 1000).toFixed(2)} s, total ${((t2 - t0) / 1000).toFixed(2)} s`,
      );
      await sleep(1000);
    }
    const summary = {
      goalS: GOAL_S,
      runs: results,
      median: { followS: median(results.map((r) => r.followS)), totalS: median(results.map((r) => r.totalS)) },
    };
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, "dhcp.json"), `${JSON.stringify(summary, null, 2)}\n`);
    fs.writeFileSync(
      path.join(out, "dhcp.md"),
      [
        "# A DHCP uplink follows a new lease (issue 20)",
        "",
        `Goal: ≤ ${GOAL_S} s from the new address to traffic through it. ${runs} lease changes (address and router both new), lab gateway, udhcpc + dnsmasq.`,
        "",
        "| run | follow (new address → our rule and nexthop on it, a ping from it answered) | total (renew request → the same) |",
        "|---|---|---|",
        ...results.map((r, i) => `| ${i + 1} | ${r.followS.toFixed(2)} s | ${r.totalS.toFixed(2)} s |`),
        `| median | ${summary.median.followS.toFixed(2)} s | ${summary.median.totalS.toFixed(2)} s |`,
        "",
        "The lab's journal of the watcher is in the lab's logs (gw-dhcp-supervisor.log).",
        "",
      ].join("\n"),
    );
    console.log(JSON.stringify(summary.median));
    // BENCH_JOURNAL=1: the watcher's journal, e.g. for a note on what a lease change looks like on the box.
    if (process.env.BENCH_JOURNAL === "1") console.log(lab.leaseJournal());
  } finally {
    await lab.down();
  }
}

if (require.main === module)
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
