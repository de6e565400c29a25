// DHCP uplinks (issue 20, design §11): validation (what it defers, what it
// still rejects), the plan's "dhcp" placeholders, the state a read of a box
// with a lease (or none) parses to, and the prelude's mw_lease against a
// stand-in `ip`.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { planSite } from "../../lib/plan";
import { planResources } from "../../lib/resources";
import { PRELUDE, expectedState, parseHealth, parseState, renderScripts } from "../../lib/render";
import { renderDhcpWatch } from "../../lib/render/dhcp";
import { deferredChecks } from "../../lib/schema";
import { validateSite } from "../../lib/validate";
import { dhcpSite } from "../fixtures/render/regenerate";
import { validSite } from "../support/fixtures";

const problems = (edit: (s: Record<string, any>) => void) => {
  const raw = dhcpSite() as Record<string, any>;
  edit(raw);
  const r = validateSite(raw);
  return r.ok ? [] : r.problems;
};

describe("validation of a DHCP uplink", () => {
  test("address: dhcp without a gateway is valid, and validation says which checks it deferred", () => {
    const site = validSite(dhcpSite());
    assert.equal(site.uplinks[1].address, "dhcp");
    assert.equal(site.uplinks[1].gateway, undefined);
    assert.deepEqual(deferredChecks(site), [
      "uplinks[1].address: dhcp: whether the leased subnet overlaps the LAN or another uplink's subnet is checked on the gateway at each new lease",
      "uplinks[1].gateway: learned from the lease (the DHCP client's default route on eth2); checked on the gateway at each new lease",
    ]);
  });

  test("a configured gateway is kept, and its subnet check is deferred", () => {
    const raw = dhcpSite() as Record<string, any>;
    raw.uplinks[1].gateway = "10.9.0.1";
    const site = validSite(raw);
    assert.match(deferredChecks(site)[1], /whether 10\.9\.0\.1 is inside the leased subnet is checked on the gateway/);
    assert.equal(planSite(site).multipath.nexthops[1].via, "10.9.0.1");
  });

  test("a static site defers nothing", () => {
    const raw = dhcpSite() as Record<string, any>;
    raw.uplinks[1].address = "192.168.2.1/24";
    raw.uplinks[1].gateway = "192.168.2.254";
    assert.deepEqual(deferredChecks(validSite(raw)), []);
  });

  test("gateway: dhcp is a typo, with a hint where dhcp belongs", () => {
    assert.deepEqual(
      problems((s) => {
        s.uplinks[1].gateway = "dhcp";
      }),
      ["uplinks[1].gateway: must be an IPv4 address; to learn the gateway from the DHCP lease, leave gateway out and set address: dhcp"],
    );
  });

  test("unknown keys and a misspelt dhcp are still rejected", () => {
    assert.deepEqual(
      problems((s) => {
        s.uplinks[1].dhcp = true;
        s.uplinks[0].address = "DHCP";
      }),
      [
        "uplinks[0].address: must be an IPv4 address with its prefix length, like 192.168.1.1/24, or dhcp for an address from the modem's DHCP server",
        "uplinks[1].dhcp: unknown field",
      ],
    );
  });

  test("a static uplink still needs its gateway", () => {
    assert.deepEqual(
      problems((s) => {
        delete s.uplinks[0].gateway;
      }),
      ["uplinks[0].gateway: is required with a static address (only an uplink with address: dhcp learns it from the lease)"],
    );
  });

  test("not yet with a DHCP uplink: a health check, a port forward on it", () => {
    const p = problems((s) => {
      s.healthCheck = { targets: ["1.1.1.1"] };
      s.portForwards = [{ uplink: "isp2", protocol: "tcp", port: 443, to: "192.168.3.20" }];
    });
    assert.equal(p.length, 2);
    assert.match(p[0], /^uplinks\[1\]\.address: dhcp cannot be combined with healthCheck yet/);
    assert.match(p[1], /^portForwards\[0\]\.uplink: "isp2" has address: dhcp/);
  });
});

describe("the plan of a DHCP uplink", () => {
  const plan = planSite(validSite(dhcpSite()));
  test("its values are the placeholder dhcp, resolved on the box; the static uplink's stay as they are", () => {
    const isp2 = plan.tables.find((t) => t.uplink === "isp2")!;
    assert.deepEqual(isp2.routes.slice(0, 2), ["dhcp dev eth2 src dhcp", "default via dhcp dev eth2"]);
    const isp1 = plan.tables.find((t) => t.uplink === "isp1")!;
    assert.deepEqual(isp1.routes[3], "dhcp dev eth2");
    assert.deepEqual(plan.rules[1], { uplink: "isp2", priority: 1002, from: "dhcp", table: 102, protocol: 77, interface: "eth2" });
    assert.deepEqual(plan.multipath.nexthops[1], { uplink: "isp2", via: "dhcp", dev: "eth2", weight: 1, dhcp: true });
    assert.equal(plan.pinned[0].via, "dhcp");
    assert.deepEqual(plan.host.interfaces[2], { name: "eth2", address: "dhcp" });
  });

  test("a LeaseWatcher comes last and knows the static subnets to check leases against", () => {
    const resources = planResources(plan);
    const last = resources[resources.length - 1];
    assert.equal(last.kind, "LeaseWatcher");
    assert.deepEqual(last.entry, {
      protocol: 77,
      uplinks: [{ name: "isp2", interface: "eth2" }],
      subnets: [
        { label: "the LAN", prefix: "192.168.3.100/24" },
        { label: "uplink isp1", prefix: "192.168.1.1/24" },
      ],
    });
    assert.ok(last.dependsOn.includes("multipath") && last.dependsOn.includes("rule-isp2"));
  });

  test("the watcher ignores our own tables' routes, so applying a lease does not trigger itself", () => {
    const watch = renderDhcpWatch(plan.dhcp!);
    assert.match(watch, /ip -o monitor address route >"\$events" &/);
    assert.match(watch, /\*" table "\*\) continue/);
  });
});

describe("reading a DHCP uplink back: a new lease is status, not drift", () => {
  const plan = planSite(validSite(dhcpSite()));
  const resources = planResources(plan);
  const byKey = (key: string) => resources.find((r) => r.key === key)!;
  const lease = "@@ lease-eth2\n10.0.2.57/24 10.0.2.0/24 10.0.2.1\n";
  const state = (key: string, output: string) => {
    const r = byKey(key);
    return { got: parseState(r.kind, r.entry as never, output), want: expectedState(r.kind, r.entry as never), r };
  };
  const json = (v: unknown) => JSON.stringify(v);

  test("the rule of the current lease's address matches; one of an old address is drift", () => {
    const rule = (from: string) => `@@ rules\n${json([{ priority: 1002, src: from, srclen: 32, table: "102", protocol: "77" }])}\n`;
    const boot = "@@ boot-copy\n/etc/multiwan/apply.d/30-rule-isp2.sh\n";
    const now = state("rule-isp2", rule("10.0.2.57") + lease + boot);
    assert.deepEqual(now.got, now.want);
    const stale = state("rule-isp2", rule("10.0.2.9") + lease + boot);
    assert.notDeepEqual(stale.got, stale.want);
  });

  test("without a lease, no rule is what is wanted", () => {
    const now = state("rule-isp2", "@@ rules\n[]\n@@ lease-eth2\n@@ boot-copy\n/etc/multiwan/apply.d/30-rule-isp2.sh\n");
    assert.deepEqual(now.got, now.want);
  });

  test("the multipath route over the lease's gateway matches; without a lease, the route without it matches", () => {
    const weights = "@@ weights\nisp1 2\nisp2 1\n@@ boot-copy\n/etc/multiwan/apply.d/40-multipath.sh\n";
    const rules = `@@ main-rule\n${json([{ priority: 30000, src: "all", table: "254", suppress_prefixlen: 0, protocol: "77" }])}\n@@ multipath-rule\n${json([{ priority: 30100, src: "all", table: "200", protocol: "77" }])}\n`;
    const both = json([
      {
        dst: "default",
        protocol: "77",
        flags: [],
        nexthops: [
          { gateway: "192.168.1.254", dev: "eth1", weight: 2, flags: [] },
          { gateway: "10.0.2.1", dev: "eth2", weight: 1, flags: [] },
        ],
      },
    ]);
    const one = json([{ dst: "default", gateway: "192.168.1.254", dev: "eth1", protocol: "77", flags: [] }]);
    const withLease = state("multipath", `@@ routes\n${both}\n${rules}${lease}${weights}`);
    assert.deepEqual(withLease.got, withLease.want);
    const noLease = state("multipath", `@@ routes\n${one}\n${rules}@@ lease-eth2\n${weights}`);
    assert.deepEqual(noLease.got, noLease.want);
    assert.deepEqual(parseHealth(noLease.r.kind, noLease.r.entry as never, "@@ lease-eth2\n"), [
      "isp2 out of the multipath set: no DHCP lease",
    ]);
    // The lease's gateway but the route through an older one: drift.
    const stale = state("multipath", `@@ routes\n${both.replace("10.0.2.1", "10.0.2.254")}\n${rules}${lease}${weights}`);
    assert.notDeepEqual(stale.got, stale.want);
  });

  test("the watcher reports the lease as status", () => {
    const r = byKey("dhcp");
    assert.deepEqual(parseHealth(r.kind, r.entry as never, `${lease}@@ watcher\nrunning 42\n`), [
      "isp2 lease 10.0.2.57/24 on eth2 via 10.0.2.1",
      "watcher running (pid 42)",
    ]);
  });

  test("no script of the DHCP site changes the main table (the DHCP client's routes are its own)", () => {
    for (const r of resources) {
      for (const part of ["apply", "remove"] as const) {
        for (const line of renderScripts(r.kind, r.entry as never)[part].split("\n")) {
          if (/^\s*#/.test(line)) continue;
          assert.doesNotMatch(line, /\b(ip addr|ip address) (add|del|flush)|dhclient|udhcpc/, `${r.key} ${part}: ${line}`);
        }
      }
    }
  });
});

describe("mw_lease (the prelude) against a stand-in ip", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mw-lease-"));
  const fakeIp = (addr: string, route: string) => {
    fs.writeFileSync(
      path.join(dir, "ip"),
      `#!/bin/sh\ncase "$*" in *" addr show "*) printf '%s\\n' '${addr}' ;; *" route show "*) printf '%s\\n' '${route}' ;; esac\n`,
      { mode: 0o755 },
    );
  };
  const lease = () =>
    execFileSync("sh", ["-c", `${PRELUDE}\nmw_lease eth2`], { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } }).toString();

  test("address, subnet (computed from the prefix) and the client's default route", () => {
    fakeIp(
      "3: eth2    inet 100.64.7.201/22 brd 100.64.7.255 scope global dynamic eth2\\       valid_lft 3599sec",
      "default via 100.64.4.1 proto dhcp metric 1024",
    );
    assert.equal(lease(), "100.64.7.201/22 100.64.4.0/22 100.64.4.1\n");
  });

  test("an address without a default route yet: no gateway", () => {
    fakeIp("3: eth2    inet 10.0.2.57/24 brd 10.0.2.255 scope global eth2", "");
    assert.equal(lease(), "10.0.2.57/24 10.0.2.0/24 \n");
  });

  test("no address: nothing", () => {
    fakeIp("", "");
    assert.equal(lease(), "");
  });
});
