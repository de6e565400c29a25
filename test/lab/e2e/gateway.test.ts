// End to end: the real CLI and provider against the network-namespace lab.
// Proves on a real kernel what the unit tests can only assume (issue 6 a-h),
// once with each NAT backend.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { parse, stringify } from "yaml";
import { type GatewaySnapshot, type Lab, SEEN_VIA, TOPOLOGY, labUp } from "../../../lab/lab";
import { initLabStack } from "../../../lab/pulumiStack";
import { assertIsp1Share, assertRestored } from "../../support/gatewayState";
import { type RunResult, assertSuccess, describeRun, runPulumi, REPO_ROOT } from "../../support/cli";

const PINNED_ISP2 = TOPOLOGY.pinned[0];
const PINNED_ISP1 = TOPOLOGY.pinned[1];

/** The host namespace's own state: must not change while the lab works. */
function hostState(): string {
  const sh = (cmd: string) => spawnSync("sh", ["-c", cmd], { encoding: "utf8" }).stdout;
  return [
    sh("ip rule"),
    sh("ip route show table all"),
    sh("ls -la /etc/iproute2 /etc/iproute2/rt_tables.d"),
    sh("cat /etc/iproute2/rt_tables"),
    sh("ls /etc/multiwan 2>&1"),
  ].join("\n---\n");
}

/** Per resource, the kernel-state lines that went missing or appeared between two records. */
function driftBetween(before: Map<string, string[]>, after: Map<string, string[]>) {
  return [...before].flatMap(([name, lines]) => {
    const now = after.get(name) ?? [];
    const missing = lines.filter((l) => !now.includes(l));
    const added = now.filter((l) => !lines.includes(l));
    return missing.length || added.length ? [{ name, missing, added }] : [];
  });
}

const withoutCounters = (text: string) => text.replace(/counter packets \d+ bytes \d+ /g, "");

const ourRoutes = (snap: GatewaySnapshot) =>
  snap.routes
    .split("\n")
    .filter((l) => / proto 77 /.test(l) || /^\s+nexthop/.test(l))
    .map((l) => l.trim())
    .join("\n");

for (const backend of ["nftables", "iptables"] as const) {
  describe(`gateway in the lab (${backend})`, { concurrency: false }, () => {
    let lab: Lab;
    let work: string;
    let configFile: string;
    let pristine: GatewaySnapshot;
    let hostBefore: string;
    let env: NodeJS.ProcessEnv;
    let stackArgs: string[];
    let deployed = false;

    const pulumi = async (...args: string[]): Promise<RunResult> =>
      runPulumi([...args, ...stackArgs], { cwd: REPO_ROOT, env, timeoutMs: 120_000 });
    const setWeights = (isp1: number, isp2: number) => {
      const doc = parse(fs.readFileSync(configFile, "utf8"));
      doc.config["gateway:site"].uplinks[0].weight = isp1;
      doc.config["gateway:site"].uplinks[1].weight = isp2;
      fs.writeFileSync(configFile, stringify(doc));
    };

    /** Each resource's kernel state as the stack records it (name -> lines). */
    const kernelStates = async (): Promise<Map<string, string[]>> => {
      // `stack export` takes the stack but no --config-file.
      const stack = stackArgs.slice(stackArgs.indexOf("--stack"), stackArgs.indexOf("--stack") + 2);
      const exported = JSON.parse(
        assertSuccess(await runPulumi(["stack", "export", ...stack], { cwd: REPO_ROOT, env, timeoutMs: 60_000 })).stdout,
      );
      return new Map(
        exported.deployment.resources
          .filter((r: any) => Array.isArray(r.outputs?.kernelState))
          .map((r: any) => [String(r.urn).split("::").pop(), r.outputs.kernelState as string[]]),
      );
    };

    before(async () => {
      hostBefore = hostState();
      lab = await labUp({ nat: backend, guard: true, log: () => {} });
      work = fs.mkdtempSync(path.join(os.tmpdir(), "mw-e2e-"));
      pristine = await lab.snapshot();
      ({ configFile, env, args: stackArgs } = initLabStack(lab.name, lab.stackFile, fs.readFileSync(lab.privateKeyPath, "utf8"), work));
    });

    after(async () => {
      try {
        if (deployed) await pulumi("destroy", "--yes");
      } finally {
        await lab?.down();
        if (work) fs.rmSync(work, { recursive: true, force: true });
      }
    });

    test("a. up applies exactly the planned rules, routes, NAT and sysctls", async () => {
      const up = assertSuccess(await pulumi("up", "--yes"));
      deployed = true;
      // The stack, the gateway, its multiwan provider and 12 resources.
      assert.match(up.output, /17 created/);
      const snap = await lab.snapshot();
      assert.equal(
        snap.rules,
        [
          "0:\tfrom all lookup local",
          "1001:\tfrom 192.168.1.1 lookup isp1 proto 77",
          "1002:\tfrom 192.168.2.1 lookup isp2 proto 77",
          "30000:\tfrom all lookup main suppress_prefixlength 0 proto 77",
          "30001:\tfrom all fwmark 0x100/0xff00 lookup isp1 proto 77",
          "30002:\tfrom all fwmark 0x200/0xff00 lookup isp2 proto 77",
          "30100:\tfrom all lookup multiwan proto 77",
          "32766:\tfrom all lookup main",
          "32767:\tfrom all lookup default",
        ].join("\n"),
      );
      assert.equal(
        ourRoutes(snap),
        [
          "default via 192.168.1.254 dev eth1 table isp1 proto 77",
          "127.0.0.0/8 dev lo table isp1 proto 77 scope link",
          "192.168.1.0/24 dev eth1 table isp1 proto 77 scope link src 192.168.1.1",
          "192.168.2.0/24 dev eth2 table isp1 proto 77 scope link",
          "192.168.3.0/24 dev eth0 table isp1 proto 77 scope link",
          "default via 192.168.2.254 dev eth2 table isp2 proto 77",
          "127.0.0.0/8 dev lo table isp2 proto 77 scope link",
          "192.168.1.0/24 dev eth1 table isp2 proto 77 scope link",
          "192.168.2.0/24 dev eth2 table isp2 proto 77 scope link src 192.168.2.1",
          "192.168.3.0/24 dev eth0 table isp2 proto 77 scope link",
          "default table multiwan proto 77",
          "nexthop via 192.168.1.254 dev eth1 weight 2",
          "nexthop via 192.168.2.254 dev eth2 weight 1",
          "198.51.100.91 via 192.168.2.254 dev eth2 table multiwan proto 77",
          "198.51.100.92 via 192.168.1.254 dev eth1 table multiwan proto 77",
        ].join("\n"),
      );
      // The main table is the host's own: nothing of ours lands there.
      assert.doesNotMatch(
        snap.routes
          .split("\n")
          .filter((l) => !/table /.test(l))
          .join("\n"),
        /proto 77/,
      );
      if (backend === "nftables") {
        for (const t of ["multiwan-nat-isp1", "multiwan-nat-isp2", "multiwan-forward"])
          assert.match(snap.nft, new RegExp(`table ip ${t} \\{`));
        assert.match(snap.nft, /oifname "eth1" masquerade/);
        assert.match(snap.nft, /oifname "eth2" masquerade/);
        assert.match(snap.nft, /iifname "eth0" oifname \{ "eth1", "eth2" \} accept/);
      } else {
        assert.match(snap.iptables, /-A POSTROUTING -j MW-NAT-isp1/);
        assert.match(snap.iptables, /-A MW-NAT-isp1 -o eth1 -j MASQUERADE/);
        assert.match(snap.iptables, /-A MW-NAT-isp2 -o eth2 -j MASQUERADE/);
        assert.match(snap.iptables, /-A FORWARD -j MW-FORWARD/);
        assert.match(snap.iptables, /-A MW-FORWARD -i eth0 -o eth1 -j ACCEPT/);
        assert.doesNotMatch(snap.nft, /table ip multiwan-/);
      }
      assert.equal(snap.sysctls["net.ipv4.ip_forward"], "1");
      assert.equal(snap.sysctls["net.ipv4.fib_multipath_hash_policy"], "1");
      assert.equal(snap.sysctls["net.ipv4.fib_multipath_use_neigh"], "1");
      assert.equal(snap.sysctls["net.ipv4.conf.eth1.rp_filter"], "2");
      assert.equal(snap.sysctls["net.ipv4.conf.eth2.rp_filter"], "2");
      assert.equal(snap.sysctls["net.ipv4.conf.eth1.ignore_routes_with_linkdown"], "1");
    });

    test("b. 600 connections split 2:1 over the uplinks (within 5 points)", async () => {
      await assertIsp1Share(lab, 2 / 3, "weights 2:1");
    });

    test("c. every connection to a pinned destination leaves through its uplink", async () => {
      const toIsp2 = await lab.flows({ count: 40, targets: [PINNED_ISP2] });
      assert.deepEqual([...toIsp2], [[SEEN_VIA.isp2, 40]]);
      const toIsp1 = await lab.flows({ count: 40, targets: [PINNED_ISP1] });
      assert.deepEqual([...toIsp1], [[SEEN_VIA.isp1, 40]]);
    });

    test("d. inbound connections through each modem are answered through that modem; the policy and mark rules make it so", async () => {
      const deployedStates = await kernelStates();
      // The clients are pinned to the OTHER uplink, so only the source rule
      // (or the connection's mark) sends the reply back the way the request came.
      assert.ok(await lab.inbound(1, PINNED_ISP2), "modem 1 -> gateway answered");
      assert.ok(await lab.inbound(2, PINNED_ISP1), "modem 2 -> gateway answered");
      await lab.exec("gw", "ip rule del pref 1001 && ip rule del pref 1002 && ip rule del pref 30001 && ip rule del pref 30002", {
        check: true,
      });
      try {
        assert.equal(await lab.inbound(1, PINNED_ISP2, 1500), false, "without the rules the reply leaves via isp2");
        assert.equal(await lab.inbound(2, PINNED_ISP1, 1500), false, "without the rules the reply leaves via isp1");
      } finally {
        // Drift repair: refresh sees the rules gone, up puts them back.
        // The first refresh also records every resource's kernel state among
        // its inputs; what drifted is what the next up repairs, and only that:
        // the 4 rules, and the run's Confirmation, whose digest changes with
        // their new applied tokens (a repair changes the box, so it confirms).
        assertSuccess(await pulumi("refresh", "--yes"));
        // Refresh found exactly the four deleted rules missing, in the
        // resources that own them, and nothing else.
        const drift = driftBetween(deployedStates, await kernelStates());
        const deleted = ["1001", "1002", "30001", "30002"].map((pref) => `rule ${pref}:`);
        assert.deepEqual(
          drift.flatMap((d) => d.added),
          [],
          "refresh found nothing new",
        );
        assert.deepEqual(
          drift.flatMap((d) => d.missing.map((l) => deleted.find((r) => l.startsWith(r)) ?? l)).sort(),
          [...deleted].sort(),
          `the drift refresh found: ${JSON.stringify(drift)}`,
        );
        const repair = assertSuccess(await pulumi("up", "--yes"));
        assert.match(repair.output, /~ 5 updated/, describeRun(repair));
      }
      assert.ok(await lab.inbound(1, PINNED_ISP2), "answered again after up repaired the drift");
    });

    test("e. a second up changes nothing", async () => {
      assertSuccess(await pulumi("preview", "--expect-no-changes"));
      const up = assertSuccess(await pulumi("up", "--yes"));
      assert.match(up.output, /17 unchanged/);
    });

    test("f. changing one weight updates exactly one resource in place (and the run's Confirmation), and the split follows", async () => {
      const before = await lab.snapshot();
      setWeights(1, 2);
      const preview = assertSuccess(await pulumi("preview", "--diff"));
      assert.match(preview.output, /~ 2 to update/);
      assert.match(preview.output, /multiwan:index:MultipathDefaultRoute/);
      assert.match(preview.output, /weight\s*: 1 => 2/);
      const up = assertSuccess(await pulumi("up", "--yes"));
      // The route, and the run's Confirmation, whose update confirms the change over a new connection.
      assert.match(up.output, /2 updated/);
      const after = await lab.snapshot();
      assert.match(after.routes, /nexthop via 192.168.1.254 dev eth1 weight 1/);
      assert.match(after.routes, /nexthop via 192.168.2.254 dev eth2 weight 2/);
      // Nothing else was touched.
      assert.equal(after.rules, before.rules);
      assert.equal(withoutCounters(after.nft), withoutCounters(before.nft));
      assert.equal(after.iptables, before.iptables);
      assert.deepEqual(after.sysctls, before.sysctls);
      await assertIsp1Share(lab, 1 / 3, "weights 1:2");
    });

    test("g. destroy leaves the gateway exactly as before the first up", async () => {
      assertSuccess(await pulumi("destroy", "--yes"));
      deployed = false;
      assertRestored(await lab.snapshot(), pristine);
    });

    test("h. the host namespace was never touched", () => {
      assert.equal(hostState(), hostBefore);
    });
  });
}
