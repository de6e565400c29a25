// Other people's state in what multiwan would own (issue 15, Build 1), once
// with each NAT backend, with the cases of test/lab/faults/foreign.ts: a
// default route in isp1's table and in the multipath table, a rule at
// isp1's priority, an nft table `multiwan-forward` / an iptables chain
// `MW-FORWARD` with a drop rule. `up` refuses, naming the object, its
// content and the field, and changes nothing at all on the box; moved off
// with those fields, `up` succeeds, and `destroy` leaves every foreign object
// byte for byte as it was; with the objects removed, the site as it was
// deploys too. The apply's own guard (the second line of defence) refuses
// when run without the preflight, and the rollback that follows keeps it.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { GatewaySnapshot } from "../../../lab/lab";
import { readStackFile } from "../../../cli/stackFile";
import { planSite } from "../../../lib/plan";
import { renderScripts } from "../../../lib/render";
import { parseSiteOrThrow } from "../../../lib/validate";
import { assertRestored, ipv4Routes } from "../../support/gatewayState";
import { assertSuccess, describeRun } from "../../support/cli";
import { type LabStackSession, openLabStack } from "../../support/labStack";
import { type ForeignCase, foreignCasesFor, refusalNames } from "../faults/foreign";

/** Everything a snapshot holds, for an exact compare of "no change at all". */
function assertSame(after: GatewaySnapshot, before: GatewaySnapshot, what: string): void {
  assert.equal(after.rules, before.rules, `${what}: rules`);
  assert.equal(ipv4Routes(after), ipv4Routes(before), `${what}: IPv4 routes`);
  assert.equal(after.nft, before.nft, `${what}: nft`);
  assert.equal(after.iptables, before.iptables, `${what}: iptables`);
  assert.deepEqual(after.sysctls, before.sysctls, `${what}: sysctls`);
  assert.deepEqual(after.disk, before.disk, `${what}: disk`);
}

for (const backend of ["nftables", "iptables"] as const) {
  const cases = foreignCasesFor(backend);

  describe(`foreign state in what multiwan would own (${backend})`, { concurrency: false }, () => {
    let s: LabStackSession;
    const gw = async (cmd: string) => (await s.lab.exec("gw", cmd, { check: true })).stdout;
    const checks = async (list: readonly ForeignCase[]) => Promise.all(list.map((c) => gw(c.check)));
    const injectAll = async (list: readonly ForeignCase[]) => {
      for (const c of list) await gw(c.inject);
    };
    const removeAll = async (list: readonly ForeignCase[]) => {
      for (const c of list) await gw(c.remove);
    };
    let original: string;
    const readSite = () => {
      // The session edits the stack's config file in place; an edit that changes nothing reads it.
      let site: Record<string, any> = {};
      s.editSite((x) => {
        site = structuredClone(x);
      });
      return site;
    };

    before(async () => {
      s = await openLabStack(backend);
      original = JSON.stringify(readSite());
    });

    after(async () => {
      await s?.close();
    });

    for (const c of cases) {
      test(`${c.name}: up refuses, naming it and ${c.field}, and changes nothing`, async (t) => {
        await gw(c.inject);
        try {
          const before = await s.lab.snapshot();
          const up = await s.pulumi("up", "--yes");
          assert.notEqual(up.code, 0, describeRun(up));
          assert.ok(refusalNames(c, up.output), `the refusal names the object, its content and ${c.field}:\n${describeRun(up)}`);
          assert.match(up.output, /failed; nothing was changed/);
          // What the user reads, in the test's report.
          for (const line of up.output.split("\n").filter((l) => /nothing was changed|^\s+- /.test(l))) t.diagnostic(line.trim());
          assertSame(await s.lab.snapshot(), before, "after the refused up");
        } finally {
          await gw(c.remove);
        }
        assertRestored(await s.lab.snapshot(), s.pristine);
      });
    }

    test("all at once: one refusal lists every clash, before the first change", async () => {
      await injectAll(cases);
      const before = await s.lab.snapshot();
      const up = await s.pulumi("up", "--yes");
      assert.notEqual(up.code, 0, describeRun(up));
      for (const c of cases) assert.ok(refusalNames(c, up.output), `${c.name} is listed:\n${describeRun(up)}`);
      // The preflight ran before any resource changed anything: the others only point at its report.
      assert.doesNotMatch(up.output, /multiwan: step "[^"]*" failed/, describeRun(up));
      assertSame(await s.lab.snapshot(), before, "after the refused up");
    });

    test("moved off with the named fields: up succeeds, and destroy leaves every foreign object byte for byte", async () => {
      const injected = await s.lab.snapshot();
      const seen = await checks(cases);
      s.editSite((site) => {
        for (const c of cases) c.moveAway(site);
      });
      assertSuccess(await s.pulumi("up", "--yes"));
      s.deployed = true;
      assert.deepEqual(await checks(cases), seen, "up left them alone");
      // It did deploy: our rule for isp1 is at its new priority, our routes in the new tables.
      const rules = await gw("ip rule");
      assert.match(rules, /^1011:\s+from 192\.168\.1\.1 lookup (111|isp1) proto 77/m, rules);
      assert.match(await gw("ip route show table 210"), / proto 77/);
      // An update runs the preflight again: our own tables, chains, routes and rules are not clashes.
      s.editSite((site) => {
        site.uplinks[0].weight = 1;
      });
      const again = assertSuccess(await s.pulumi("up", "--yes"));
      // The weighted route, and the run's Confirmation.
      assert.match(again.output, /~ 2 updated/, describeRun(again));
      assert.deepEqual(await checks(cases), seen, "the update left them alone");
      assertSuccess(await s.pulumi("destroy", "--yes"));
      s.deployed = false;
      assert.deepEqual(await checks(cases), seen, "destroy left them alone, byte for byte");
      assertSame(await s.lab.snapshot(), injected, "after destroy: the gateway as it was, foreign state and all");
    });

    test("with the foreign objects removed, the site as it was deploys and destroys exactly", async () => {
      await removeAll(cases);
      s.editSite((site) => {
        for (const k of Object.keys(site)) delete site[k];
        Object.assign(site, JSON.parse(original));
      });
      assertSuccess(await s.pulumi("up", "--yes"));
      s.deployed = true;
      assert.match(await gw("ip route show table 101"), /^default via 192\.168\.1\.254 dev eth1 proto 77/m);
      assertSuccess(await s.pulumi("destroy", "--yes"));
      s.deployed = false;
      assertRestored(await s.lab.snapshot(), s.pristine);
    });

    test("the apply's own guard refuses without the preflight, and its rollback keeps the foreign object", async () => {
      const site = parseSiteOrThrow(readStackFile(s.lab.stackFile).site);
      const plan = planSite(site);
      const guarded = [
        {
          c: cases[0],
          kind: "RoutingTable" as const,
          entry: plan.tables[0],
          says: /table 101 holds a route multiwan did not add: default via 192\.168\.1\.77 dev eth1/,
        },
        {
          c: cases[cases.length - 1],
          kind: "Forward" as const,
          entry: plan.forward,
          says:
            backend === "nftables"
              ? /nft table ip multiwan-forward exists and is not multiwan's/
              : /iptables chain MW-FORWARD \(filter\) exists and is not multiwan's/,
        },
      ];
      for (const g of guarded) {
        await gw(g.c.inject);
        try {
          const seen = await gw(g.c.check);
          const before = await s.lab.snapshot();
          const scripts = renderScripts(g.kind, g.entry as never);
          const applied = await s.lab.exec("gw", ["sh", "-c", scripts.apply]);
          assert.notEqual(applied.code, 0, applied.stderr);
          assert.match(applied.stderr, g.says);
          // What the provider runs after a failed create: the remove script.
          const removed = await s.lab.exec("gw", ["sh", "-c", scripts.remove]);
          assert.equal(removed.code, 0, removed.stderr);
          assert.equal(await gw(g.c.check), seen, `${g.c.name}: kept by the rollback`);
          assertSame(await s.lab.snapshot(), before, `${g.c.name}: apply and rollback changed nothing`);
        } finally {
          await gw(g.c.remove);
        }
      }
      assertRestored(await s.lab.snapshot(), s.pristine);
    });
  });
}
