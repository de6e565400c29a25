// Connection marks and port forwards on real kernels (issue 17 a-d), once
// with each NAT backend: long-lived connections keep their uplink through a
// weight change; a port forward answers through the modem it came in by even
// when the LAN host's own traffic to that client is pinned elsewhere;
// removing an uplink drops only its connections; destroy is exact.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SEEN_VIA, TOPOLOGY } from "../../../lab/lab";
import { assertRestored } from "../../support/gatewayState";
import { assertSuccess, describeRun } from "../../support/cli";
import { type LabStackSession, openLabStack } from "../../support/labStack";

const ECHO_PORT = TOPOLOGY.echoPort;
/** The LAN client's own server, the target of the port forwards. */
const LAN_SERVER_PORT = 7080;
const LAN_HOST = TOPOLOGY.lanClient.address.split("/")[0];
/** Internet clients, each pinned to the uplink other than the modem it connects through. */
const PINNED_ISP2 = TOPOLOGY.pinned[0];
const PINNED_ISP1 = TOPOLOGY.pinned[1];

const tally = (answers: string[]) => {
  const t: Record<string, number> = {};
  for (const a of answers) t[a] = (t[a] ?? 0) + 1;
  return t;
};

for (const backend of ["nftables", "iptables"] as const) {
  describe(`connection marks in the lab (${backend})`, { concurrency: false }, () => {
    let s: LabStackSession;

    before(async () => {
      s = await openLabStack(backend);
      await s.lab.startServer("net", "echo", ECHO_PORT);
      await s.lab.startServer("lan", "whoami", LAN_SERVER_PORT);
      // The modems forward <wan>:8080 to the uplink's address :80; the
      // gateway forwards that on to the LAN host.
      s.editSite((site) => {
        site.portForwards = [
          { uplink: "isp1", protocol: "tcp", port: TOPOLOGY.gatewayServerPort, to: `${LAN_HOST}:${LAN_SERVER_PORT}` },
          { uplink: "isp2", protocol: "tcp", port: TOPOLOGY.gatewayServerPort, to: `${LAN_HOST}:${LAN_SERVER_PORT}` },
        ];
      });
      assertSuccess(await s.pulumi("up", "--yes"));
      s.deployed = true;
    });

    after(async () => {
      await s?.close();
    });

    test("a. 300 long-lived connections survive a weight change, each still seen from the same address", async () => {
      const held = await s.lab.hold({ count: 300, port: ECHO_PORT });
      try {
        const counts = tally(held.first);
        assert.deepEqual(
          Object.keys(counts).sort(),
          [SEEN_VIA.isp1, SEEN_VIA.isp2].sort(),
          `all connected over both uplinks: ${JSON.stringify(counts)}`,
        );
        s.editSite((site) => {
          site.uplinks[0].weight = 1;
          site.uplinks[1].weight = 2;
        });
        const up = assertSuccess(await s.pulumi("up", "--yes"));
        // The route, and the run's Confirmation.
        assert.match(up.output, /2 updated/, describeRun(up));
        const again = await held.check();
        const moved = again.filter((a, i) => a !== held.first[i]);
        assert.deepEqual(tally(moved), {}, "no connection broke or changed its uplink");
      } finally {
        await held.close();
      }
    });

    test("b. a port forward answers through the modem it came in by, though the LAN host's traffic to that client is pinned to the other", async () => {
      // PINNED_ISP2 is pinned to isp2, so only the mark sends the reply back through modem 1.
      const via1 = await s.lab.inboundDetail(1, PINNED_ISP2);
      assert.deepEqual(via1, { ok: true, reply: PINNED_ISP2 }, "modem 1 -> LAN host answered, and saw the client's own address");
      const via2 = await s.lab.inboundDetail(2, PINNED_ISP1);
      assert.deepEqual(via2, { ok: true, reply: PINNED_ISP1 }, "modem 2 -> LAN host answered");
      // And the LAN host's own connections to those clients do leave through the pinned uplinks.
      assert.deepEqual([...(await s.lab.flows({ count: 10, targets: [PINNED_ISP2] }))], [[SEEN_VIA.isp2, 10]]);
      assert.deepEqual([...(await s.lab.flows({ count: 10, targets: [PINNED_ISP1] }))], [[SEEN_VIA.isp1, 10]]);
    });

    test("c. removing an uplink from the site drops only its connections; the others keep answering", async () => {
      const held = await s.lab.hold({ count: 120, port: ECHO_PORT });
      try {
        const onIsp1 = held.first.map((a) => a === SEEN_VIA.isp1);
        assert.ok(onIsp1.some(Boolean) && !onIsp1.every(Boolean), `connections on both uplinks: ${JSON.stringify(tally(held.first))}`);
        s.editSite((site) => {
          site.uplinks = site.uplinks.slice(0, 1);
          site.pinnedRoutes = site.pinnedRoutes.filter((p: { uplink: string }) => p.uplink === "isp1");
          site.portForwards = site.portForwards.filter((p: { uplink: string }) => p.uplink === "isp1");
        });
        assertSuccess(await s.pulumi("up", "--yes"));
        const left = await s.lab.exec("gw", "conntrack -L --mark 0x200/0xff00 2>/dev/null | wc -l", { check: true });
        assert.equal(left.stdout.trim(), "0", "no connection of isp2 is left in conntrack");
        const again = await held.check();
        again.forEach((answer, i) => {
          if (onIsp1[i]) assert.equal(answer, SEEN_VIA.isp1, `connection ${i} (isp1) still answers from the same address`);
          else assert.notEqual(answer, SEEN_VIA.isp2, `connection ${i} (isp2) was dropped`);
        });
      } finally {
        await held.close();
      }
    });

    test("d. destroy leaves the gateway exactly as before the first up", async () => {
      assertSuccess(await s.pulumi("destroy", "--yes"));
      s.deployed = false;
      assertRestored(await s.lab.snapshot(), s.pristine);
    });
  });
}
