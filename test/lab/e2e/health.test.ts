// Health checks on real kernels (issue 18), once with each NAT backend. An
// ISP outage is simulated as it happens: modem 1 and the gateway's link stay
// up, and everything beyond the modem is black-holed (dropped in m1 on its
// way out of the WAN side). The lab has no systemd: its stand-in supervisor
// runs the installed unit's ExecStart and restarts it (lab/supervisor.ts).
// Bounds are generous on purpose; the bench measures the times.
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { SEEN_VIA, TOPOLOGY, run } from "../../../lab/lab";
import { assertSuccess, describeRun } from "../../support/cli";
import { assertIsp1Share, assertRestored } from "../../support/gatewayState";
import { type LabStackSession, openLabStack } from "../../support/labStack";

const ECHO_PORT = TOPOLOGY.echoPort;
const TARGETS = ["203.0.113.68", "203.0.113.69"];
/** Pinned to isp1: with fallback, and without. */
const PIN_FALLBACK = TOPOLOGY.pinned[0];
const PIN_STAY = TOPOLOGY.pinned[1];
const BOUND_MS = 30_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tally = (answers: string[]) => {
  const t: Record<string, number> = {};
  for (const a of answers) t[a] = (t[a] ?? 0) + 1;
  return t;
};

for (const backend of ["nftables", "iptables"] as const) {
  describe(`health checks in the lab (${backend})`, { concurrency: false }, () => {
    let s: LabStackSession;
    const gw = async (cmd: string) => (await s.lab.exec("gw", cmd, { check: true })).stdout;
    const state = async (uplink: string) => (await gw(`cat /run/multiwan/state/${uplink} 2>/dev/null || true`)).split(" ")[0];
    const waitFor = async (what: string, ok: () => Promise<boolean>) => {
      const end = Date.now() + BOUND_MS;
      while (!(await ok())) {
        if (Date.now() > end) assert.fail(`not within ${BOUND_MS / 1000} s: ${what}\n${s.lab.healthJournal().slice(-2000)}`);
        await sleep(200);
      }
    };
    const waitState = (uplink: string, want: "up" | "down") => waitFor(`${uplink} ${want}`, async () => (await state(uplink)) === want);
    /** The monitor writes an uplink's state, then rebuilds the route: a test that saw the state waits for the route too. */
    const waitRoute = async (want: string) => {
      await waitFor(`the route ${want}`, async () => (await route()) === want).catch(async (err) => {
        assert.equal(await route(), want, (err as Error).message);
      });
    };
    /** Black-holes everything beyond modem N (its carrier and the gateway's link stay up). */
    const cut = (m: 1 | 2) =>
      s.lab.exec(`m${m}`, ["nft", "-f", "-"], {
        input:
          'table ip outage {\n  chain forward {\n    type filter hook forward priority 0; policy accept;\n    oifname "wan" drop\n  }\n}\n',
        check: true,
      });
    const restore = (m: 1 | 2) => s.lab.exec(`m${m}`, "nft delete table ip outage", { check: true });
    const route = async () => (await gw("ip route show table 200 proto 77 default")).replace(/\s+/g, " ").trim();
    const transitions = (uplink: string, st: string) =>
      s.lab
        .healthJournal()
        .split("\n")
        .filter((l) => l.startsWith(`multiwan-health: ${uplink} ${st}:`)).length;

    before(async () => {
      s = await openLabStack(backend);
      await s.lab.startServer("net", "echo", ECHO_PORT);
      s.editSite((site) => {
        site.healthCheck = { targets: TARGETS };
        site.pinnedRoutes = [
          { destination: `${PIN_FALLBACK}/32`, uplink: "isp1" },
          { destination: `${PIN_STAY}/32`, uplink: "isp1", fallback: false },
        ];
      });
      assertSuccess(await s.pulumi("up", "--yes"));
      s.deployed = true;
      s.lab.superviseHealthMonitor();
      await waitFor("health.json with both uplinks up", async () => {
        const j = await gw("cat /run/multiwan/health.json 2>/dev/null || true");
        return /"name":"isp1","state":"up".*"name":"isp2","state":"up"/.test(j) && !j.includes('"rttMs":null');
      });
    });

    after(async () => {
      await s?.close();
    });

    test("a. isp1 black-holed: every new connection leaves through isp2, held ones on isp2 keep answering, the fallback pin moves, the other stays", async () => {
      const held = await s.lab.hold({ count: 60, port: ECHO_PORT });
      try {
        const onIsp2 = held.first.map((a) => a === SEEN_VIA.isp2);
        assert.ok(onIsp2.some(Boolean) && !onIsp2.every(Boolean), `connections on both uplinks: ${JSON.stringify(tally(held.first))}`);
        await cut(1);
        await waitFor("every one of 20 new connections through isp2", async () => {
          const t = await s.lab.flows({ count: 20, timeoutMs: 1500 });
          return t.get(SEEN_VIA.isp2) === 20;
        });
        assert.equal(await state("isp1"), "down");
        assert.equal(await route(), "default via 192.168.2.254 dev eth2", "isp1 left the multipath route");
        assert.equal(transitions("isp1", "down"), 1, "one journal line for the transition");
        const again = await held.check();
        again.forEach((answer, i) => {
          if (onIsp2[i]) assert.equal(answer, SEEN_VIA.isp2, `held connection ${i} on isp2 still answers`);
        });
        assert.deepEqual([...(await s.lab.flows({ count: 10, targets: [PIN_FALLBACK] }))], [[SEEN_VIA.isp2, 10]], "fallback pin uses isp2");
        const stay = await s.lab.flows({ count: 5, targets: [PIN_STAY], timeoutMs: 1000 });
        assert.equal(stay.get(SEEN_VIA.isp1) ?? 0, 0);
        assert.equal(stay.get(SEEN_VIA.isp2) ?? 0, 0, "the pin without fallback keeps failing");
        const status = JSON.parse(await gw("cat /run/multiwan/health.json"));
        assert.deepEqual(
          status.uplinks.map((u: { name: string; state: string }) => [u.name, u.state]),
          [
            ["isp1", "down"],
            ["isp2", "up"],
          ],
        );
      } finally {
        await held.close();
      }
    });

    test("b. during the outage: refresh reports isp1 down in an output, not drift; up never revives it; a weight change lands in the monitor's configuration", async () => {
      assertSuccess(await s.pulumi("refresh", "--yes"));
      const preview = await s.pulumi("preview", "--diff", "--expect-no-changes");
      assertSuccess(preview);
      const exported = await s.stackExport();
      const multipath = exported.deployment.resources.find((r: { type: string }) => r.type === "multiwan:index:MultipathDefaultRoute");
      assert.ok(
        multipath.outputs.health.some((l: string) => l.startsWith("isp1 down")),
        JSON.stringify(multipath.outputs.health),
      );
      s.editSite((site) => {
        site.uplinks[0].weight = 3;
        site.uplinks[1].weight = 2;
      });
      const up = assertSuccess(await s.pulumi("up", "--yes"));
      assert.match(up.output, /updated/, describeRun(up));
      assert.equal(await route(), "default via 192.168.2.254 dev eth2", "up left the dead nexthop out");
      // The desired weights are MultipathDefaultRoute's; the monitor reads them when it rebuilds the route.
      assert.match(await gw("cat /etc/multiwan/weights.conf"), /^isp1 3\nisp2 2$/m);
      await sleep(3000);
      assert.equal(await state("isp1"), "down");
    });

    test("c. the outage ends: isp1 comes back with the new weights and carries its share; the fallback pin returns", async () => {
      await restore(1);
      await waitState("isp1", "up");
      await waitRoute("default nexthop via 192.168.1.254 dev eth1 weight 3 nexthop via 192.168.2.254 dev eth2 weight 2");
      await assertIsp1Share(s.lab, 3 / 5, "after the outage");
      assert.deepEqual([...(await s.lab.flows({ count: 10, targets: [PIN_FALLBACK] }))], [[SEEN_VIA.isp1, 10]]);
      assert.deepEqual([...(await s.lab.flows({ count: 10, targets: [PIN_STAY] }))], [[SEEN_VIA.isp1, 10]]);
    });

    test("d. a target that drops 1 probe in 3 never causes a failover", async () => {
      const before = transitions("isp1", "down") + transitions("isp2", "down");
      await s.lab.exec("net", ["nft", "-f", "-"], {
        input: `table ip flaky {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    ip daddr ${TARGETS[0]} icmp type echo-request numgen random mod 3 == 0 drop\n  }\n}\n`,
        check: true,
      });
      try {
        await sleep(15_000);
        const dropped = await s.lab.exec("net", "nft list table ip flaky", { check: true });
        assert.match(dropped.stdout, /numgen random mod 3/);
        assert.equal(transitions("isp1", "down") + transitions("isp2", "down"), before, "no failover");
        assert.equal(await state("isp1"), "up");
        assert.equal(await state("isp2"), "up");
      } finally {
        await s.lab.exec("net", "nft delete table ip flaky", { check: true });
      }
    });

    test("e. every uplink dead: the route keeps them all", async () => {
      await cut(1);
      await cut(2);
      try {
        await waitState("isp1", "down");
        await waitState("isp2", "down");
        await waitRoute("default nexthop via 192.168.1.254 dev eth1 weight 3 nexthop via 192.168.2.254 dev eth2 weight 2");
      } finally {
        await restore(1);
        await restore(2);
      }
      await waitState("isp1", "up");
      await waitState("isp2", "up");
    });

    test("f. the monitor is killed: the supervisor starts it again", async () => {
      const pid = Number((await gw("cat /run/multiwan/health.pid")).trim());
      await gw(`kill -9 ${pid}`);
      await waitFor("a new monitor", async () => {
        const now = Number((await gw("cat /run/multiwan/health.pid 2>/dev/null || echo 0")).trim());
        return now !== pid && now > 0 && (await s.lab.exec("gw", `kill -0 ${now}`)).code === 0;
      });
      await waitFor("health.json refreshed", async () => {
        const j = JSON.parse(await gw("cat /run/multiwan/health.json"));
        const now = Number((await gw("date +%s")).trim());
        return now - j.updated <= 2;
      });
    });

    test("g. destroy stops the monitor and leaves the gateway exactly as before", async () => {
      assertSuccess(await s.pulumi("destroy", "--yes"));
      s.deployed = false;
      assertRestored(await s.lab.snapshot(), s.pristine);
      await sleep(2000);
      assert.equal((await s.lab.exec("gw", "ls /run/multiwan")).code, 2, "/run/multiwan is gone");
      const pids = (await run(["ip", "netns", "pids", s.lab.ns.gw])).stdout.split(/\s+/).filter(Boolean);
      const monitors = pids.filter((p) => {
        try {
          return fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes("/etc/multiwan/health.sh");
        } catch {
          return false;
        }
      });
      assert.deepEqual(monitors, [], "no monitor runs any more");
    });
  });
}
