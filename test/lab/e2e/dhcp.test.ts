// A DHCP uplink on real kernels (issue 20), once with each NAT backend: modem
// 2 runs dnsmasq on its LAN side and the gateway udhcpc on eth2 (lab/dhcp.ts);
// the site says isp2's address is dhcp and learns its gateway. The lab has no
// systemd: its stand-in supervisor runs multiwan-dhcp.service's ExecStart.
// Bounds are generous (others run tests on this machine); the journal lines
// show the time the watcher took.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TOPOLOGY } from "../../../lab/lab";
import { type LeaseOffer, gatewayLease, startDhcpClient, startDhcpServer } from "../../../lab/dhcp";
import { assertSuccess, describeRun } from "../../support/cli";
import { assertIsp1Share, ipv4Routes } from "../../support/gatewayState";
import { type LabStackSession, openLabStack } from "../../support/labStack";
import { missingTool } from "../../support/tools";

const FIRST: LeaseOffer = { address: "192.168.2.50", router: "192.168.2.254" };
const SECOND: LeaseOffer = { address: "192.168.2.60", router: "192.168.2.253" };
const PIN = TOPOLOGY.pinned[1];
/** From the client's new address to our rule, routes and nexthop following it. */
const FOLLOW_MS = 2_000;
const BOUND_MS = 30_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const backend of ["nftables", "iptables"] as const) {
  describe(`a DHCP uplink in the lab (${backend})`, { concurrency: false }, () => {
    let s: LabStackSession;
    let server = 0;
    let client = 0;
    const gw = async (cmd: string) => (await s.lab.exec("gw", cmd, { check: true })).stdout.replace(/[ \t]+/g, " ").trim();
    const waitFor = async (what: string, ok: () => Promise<boolean>, bound = BOUND_MS) => {
      const start = Date.now();
      while (!(await ok())) {
        if (Date.now() - start > bound) assert.fail(`not within ${bound / 1000} s: ${what}\n${s.lab.leaseJournal().slice(-3000)}`);
        await sleep(50);
      }
      return Date.now() - start;
    };
    const rule = () => gw("ip -N rule show pref 1002");
    const multipath = () => gw("ip route show table 200 proto 77 default");
    const serve = (offer: LeaseOffer) => {
      if (server) process.kill(server, "SIGTERM");
      server = startDhcpServer(s.lab, offer);
    };
    /** The client follows a lease as configured for our site: address and rule, table and nexthop. */
    const followed = async (offer: LeaseOffer) =>
      (await rule()).includes(`from ${offer.address} lookup 102`) &&
      (await multipath()).includes(`via ${offer.router} dev eth2`) &&
      (await gw("ip route show table 102 proto 77")).includes(`default via ${offer.router} dev eth2`) &&
      (await gw("ip route show table 200 proto 77")).includes(`${PIN} via ${offer.router} dev eth2`);

    before(async () => {
      // The lab tier runs after scripts/setup.sh: a missing DHCP server or client is a broken setup, never a skip.
      for (const [tool, pkg] of [
        ["dnsmasq", "dnsmasq-base"],
        ["busybox", "busybox"],
      ]) {
        const missing = missingTool(tool, pkg);
        if (missing) throw new Error(missing);
      }
      s = await openLabStack(backend);
      // The lab's eth2 is static; a DHCP uplink's comes from the modem.
      await gw("ip -4 addr flush dev eth2 scope global");
      serve(FIRST);
      client = startDhcpClient(s.lab);
      await waitFor("the first lease", async () => (await gatewayLease(s.lab)) === `${FIRST.address}/24`);
      s.editSite((site) => {
        site.uplinks[1].address = "dhcp";
        delete site.uplinks[1].gateway;
        site.pinnedRoutes = [{ destination: `${PIN}/32`, uplink: "isp2" }];
        delete site.healthCheck;
        delete site.portForwards;
      });
      const up = assertSuccess(await s.pulumi("up", "--yes"));
      s.deployed = true;
      assert.match(up.output, /LeaseWatcher/, describeRun(up));
      s.lab.superviseLeaseWatcher();
      await waitFor("the watcher", async () => s.lab.leaseJournal().includes("multiwan-dhcp: watching eth2"));
    });

    after(async () => {
      await s?.close();
    });

    test("a. the site with a DHCP uplink applies: the lease's address in the rule, its router as nexthop, the 2:1 split", async () => {
      assert.ok(await followed(FIRST), `${await rule()}\n${await multipath()}`);
      await assertIsp1Share(s.lab, 2 / 3, "DHCP isp2");
      // Refresh agrees with the box: the lease is status, not drift.
      assertSuccess(await s.pulumi("refresh", "--yes"));
      assertSuccess(await s.pulumi("preview", "--expect-no-changes"));
    });

    test("b. a new address and router: within the bound the uplink carries traffic again, the old address's rule and routes are gone", async () => {
      await s.lab.exec("m2", `ip addr add ${SECOND.router}/24 dev lan`, { check: true });
      serve(SECOND);
      await sleep(500);
      process.kill(client, "SIGUSR1"); // renew: dnsmasq NAKs the old address, the client takes the new one
      await waitFor("the new lease on eth2", async () => (await gatewayLease(s.lab)) === `${SECOND.address}/24`);
      const ms = await waitFor("our rule, tables and nexthop on the new lease", () => followed(SECOND), FOLLOW_MS + 3_000);
      console.log(`# followed the new lease in ${ms} ms after the address appeared (polling every 50 ms)`);
      assert.doesNotMatch(await gw("ip rule show"), new RegExp(`from ${FIRST.address} `));
      for (const t of [101, 102, 200]) {
        const routes = await gw(`ip route show table ${t} proto 77`);
        assert.doesNotMatch(routes, new RegExp(`${FIRST.address}|via ${FIRST.router}`), `table ${t}: ${routes}`);
      }
      await assertIsp1Share(s.lab, 2 / 3, "after the new lease");
      assertSuccess(await s.pulumi("preview", "--expect-no-changes"));
    });

    test("c. the lease is lost (server stopped, the client lets it go): isp2 leaves the set, then comes back", async () => {
      process.kill(server, "SIGTERM");
      server = 0;
      process.kill(client, "SIGUSR2"); // release: the address goes, as at the end of a lease
      await waitFor("isp2 out of the multipath set", async () => (await multipath()) === "default via 192.168.1.254 dev eth1");
      assert.equal(await rule(), "");
      assert.equal(await gw("ip route show table 102 proto 77"), "");
      // Traffic still flows: all of it through isp1.
      await assertIsp1Share(s.lab, 1, "without isp2's lease");
      assertSuccess(await s.pulumi("preview", "--expect-no-changes"));
      serve(SECOND);
      process.kill(client, "SIGUSR1");
      await waitFor("isp2 back with its lease", () => followed(SECOND));
      await assertIsp1Share(s.lab, 2 / 3, "the lease back");
    });

    test("d. reboot with a late lease: the boot runner waits for it, then applies the lease", async () => {
      await s.lab.reboot(); // everything in the gateway namespace stops: the client and the watcher too
      await gw("ip -4 addr flush dev eth2 scope global");
      // The modem's LAN side came back with the reboot's new link: its second router address and the server too.
      await s.lab.exec("m2", `ip addr add ${SECOND.router}/24 dev lan`, { check: true });
      serve(SECOND);
      const runner = s.lab.ssh("MULTIWAN_WAIT_SECONDS=90 sh /etc/multiwan/boot.sh");
      await sleep(3_000);
      assert.equal(await rule(), "", "nothing applied before the lease");
      client = startDhcpClient(s.lab);
      const booted = await runner;
      assert.equal(booted.code, 0, booted.stderr);
      assert.match(booted.stderr, /waiting for eth2 \(a DHCP lease\)/);
      assert.ok(await followed(SECOND), `${await rule()}\n${await multipath()}`);
      s.lab.superviseLeaseWatcher();
      await waitFor("the watcher after the reboot", async () => s.lab.leaseJournal().split("watching eth2").length > 2);
      await assertIsp1Share(s.lab, 2 / 3, "after the reboot");
    });

    test("e. destroy removes exactly what we added; the DHCP client's address and route stay", async () => {
      const client = { addr: await gatewayLease(s.lab), main: await gw("ip route show table main") };
      assertSuccess(await s.pulumi("destroy", "--yes"));
      s.deployed = false;
      const snap = await s.lab.snapshot();
      assert.equal(snap.rules, s.pristine.rules);
      assert.equal(snap.nft, s.pristine.nft);
      assert.equal(snap.iptables, s.pristine.iptables);
      assert.deepEqual(snap.sysctls, s.pristine.sysctls);
      assert.deepEqual(snap.disk, s.pristine.disk);
      assert.doesNotMatch(ipv4Routes(snap), /proto 77/);
      assert.equal(await gatewayLease(s.lab), client.addr);
      assert.equal(await gw("ip route show table main"), client.main);
      assert.match(client.main, /default via 192\.168\.2\.253 dev eth2 metric 100/);
    });
  });
}
