// lib/plan.ts + lib/resources.ts: the site as tables, routes, rules and NAT
// (design §4), the resources that carry them, and what the scripts must never
// do: repeat the seed post's typos or touch the host's own routing setup.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { planSite, trafficShares, type Plan } from "../../lib/plan";
import { planResources } from "../../lib/resources";
import { sysctlPath } from "../../lib/kinds/gatewayHost";
import { renderScripts } from "../../lib/render";
import { editedSite, renderAll, stackPlan, validSite } from "../support/fixtures";
import { dhcpSite } from "../fixtures/render/regenerate";

describe("home: the seed post's site, corrected", () => {
  const plan = stackPlan("home");

  test("table 101 (isp1) holds the five LARTC routes", () => {
    assert.deepEqual(plan.tables[0], {
      uplink: "isp1",
      table: 101,
      interface: "eth1",
      address: "192.168.1.1/24",
      gateway: "192.168.1.254",
      protocol: 77,
      routes: [
        "192.168.1.0/24 dev eth1 src 192.168.1.1",
        "default via 192.168.1.254 dev eth1",
        "192.168.3.0/24 dev eth0",
        "192.168.2.0/24 dev eth2",
        "127.0.0.0/8 dev lo",
      ],
    });
  });

  test("table 102 (isp2) holds the same shape for isp2", () => {
    assert.deepEqual(plan.tables[1], {
      uplink: "isp2",
      table: 102,
      interface: "eth2",
      address: "192.168.2.1/24",
      gateway: "192.168.2.254",
      protocol: 77,
      routes: [
        "192.168.2.0/24 dev eth2 src 192.168.2.1",
        "default via 192.168.2.254 dev eth2",
        "192.168.3.0/24 dev eth0",
        "192.168.1.0/24 dev eth1",
        "127.0.0.0/8 dev lo",
      ],
    });
    assert.equal(plan.tables.length, 2);
  });

  test("the rendered table commands are design §4's, with numeric table ids", () => {
    const apply = renderScripts("RoutingTable", plan.tables[0]).apply;
    for (const line of [
      "route replace 192.168.1.0/24 dev eth1 src 192.168.1.1 table 101 proto 77",
      "route replace default via 192.168.1.254 dev eth1 table 101 proto 77",
      "route replace 192.168.3.0/24 dev eth0 table 101 proto 77",
      "route replace 192.168.2.0/24 dev eth2 table 101 proto 77",
      "route replace 127.0.0.0/8 dev lo table 101 proto 77",
    ])
      assert.ok(apply.split("\n").includes(line), line);
  });

  test("rules 1001 and 1002 from each uplink's own address to its table", () => {
    assert.deepEqual(plan.rules, [
      { uplink: "isp1", priority: 1001, from: "192.168.1.1", table: 101, protocol: 77 },
      { uplink: "isp2", priority: 1002, from: "192.168.2.1", table: 102, protocol: 77 },
    ]);
  });

  test("the multipath default: table 200 after main, nexthops weighted 2 and 1", () => {
    assert.deepEqual(plan.multipath, {
      table: 200,
      protocol: 77,
      mainPriority: 30000,
      multipathPriority: 30100,
      nexthops: [
        { uplink: "isp1", via: "192.168.1.254", dev: "eth1", weight: 2 },
        { uplink: "isp2", via: "192.168.2.254", dev: "eth2", weight: 1 },
      ],
    });
    const shares = trafficShares(plan.multipath);
    assert.ok(Math.abs(shares.isp1 - 2 / 3) < 1e-12 && Math.abs(shares.isp2 - 1 / 3) < 1e-12);
    const apply = renderScripts("MultipathDefaultRoute", plan.multipath).apply;
    // Each uplink joins unless the health monitor has it down; with every one down, all stay.
    for (const line of [
      `mw_down isp1 || mw_hops="$mw_hops nexthop via 192.168.1.254 dev eth1 weight 2"`,
      `mw_down isp2 || mw_hops="$mw_hops nexthop via 192.168.2.254 dev eth2 weight 1"`,
      `[ -n "$mw_hops" ] || mw_hops='nexthop via 192.168.1.254 dev eth1 weight 2 nexthop via 192.168.2.254 dev eth2 weight 1'`,
      `mw_multipath 200 77 "$mw_hops"`,
    ])
      assert.ok(apply.split("\n").includes(line), line);
  });

  test("174.143.119.91 pinned via isp2, in ip route's spelling (no /32), in the multipath table", () => {
    assert.deepEqual(plan.pinned, [
      {
        uplink: "isp2",
        table: 200,
        protocol: 77,
        via: "192.168.2.254",
        dev: "eth2",
        destinations: ["174.143.119.91"],
        fallback: ["174.143.119.91"],
      },
    ]);
    assert.ok(
      renderScripts("PinnedRoutes", plan.pinned[0]).apply.includes(
        "route replace 174.143.119.91 via 192.168.2.254 dev eth2 table 200 proto 77",
      ),
    );
  });

  test("masquerade on each uplink, forwarding from the LAN to the uplinks", () => {
    assert.deepEqual(plan.masquerade, [
      { uplink: "isp1", interface: "eth1", backend: "nftables" },
      { uplink: "isp2", interface: "eth2", backend: "nftables" },
    ]);
    assert.deepEqual(plan.forward, { lanInterface: "eth0", uplinkInterfaces: ["eth1", "eth2"], backend: "nftables" });
  });

  test("host-wide: table names and sysctls (forwarding, 5-tuple hash, loose rp_filter on uplinks only)", () => {
    assert.deepEqual(plan.host.tableNames, ["101 isp1", "102 isp2", "200 multiwan"]);
    assert.deepEqual(
      Object.entries(plan.host.sysctls).map(([name, value]) => `${name}=${value}`),
      [
        "net.ipv4.ip_forward=1",
        "net.ipv4.fib_multipath_hash_policy=1",
        "net.ipv4.fib_multipath_use_neigh=1",
        "net.ipv4.conf.eth1.rp_filter=2",
        "net.ipv4.conf.eth1.ignore_routes_with_linkdown=1",
        "net.ipv4.conf.eth2.rp_filter=2",
        "net.ipv4.conf.eth2.ignore_routes_with_linkdown=1",
      ],
    );
    for (const name of Object.keys(plan.host.sysctls)) assert.equal(sysctlPath(name), `/proc/sys/${name.replace(/\./g, "/")}`);
    const { owned, ...rest } = plan.preflight;
    assert.deepEqual(rest, {
      interfaces: [
        { name: "eth0", address: "192.168.3.100/24" },
        { name: "eth1", address: "192.168.1.1/24" },
        { name: "eth2", address: "192.168.2.1/24" },
      ],
      natBackend: "nftables",
      healthCheck: true,
    });
    // Everything the site would own, each once, with the field that moves multiwan off it (issue 15).
    const spelled = (o: (typeof owned)[number]) => {
      const what =
        o.object === "routes"
          ? `table ${o.table}`
          : o.object === "rule"
            ? `priority ${o.priority}`
            : o.object === "nft"
              ? `nft ${o.name}`
              : `chain ${o.chain}`;
      return `${what}: ${o.field}`;
    };
    assert.deepEqual(owned.map(spelled), [
      "table 101: uplinks[0].table or routing.tableBase",
      "table 102: uplinks[1].table or routing.tableBase",
      "table 200: routing.table",
      "priority 1001: uplinks[0].priority or routing.priorityBase",
      "priority 1002: uplinks[1].priority or routing.priorityBase",
      "priority 30001: routing.markPriorityBase or routing.mainPriority",
      "priority 30002: routing.markPriorityBase or routing.mainPriority",
      "priority 30000: routing.mainPriority",
      "priority 30100: routing.multipathPriority",
      "nft multiwan-mark-isp1: uplinks[0].name or nat.backend",
      "nft multiwan-mark-isp2: uplinks[1].name or nat.backend",
      "nft multiwan-nat-isp1: uplinks[0].name or nat.backend",
      "nft multiwan-nat-isp2: uplinks[1].name or nat.backend",
      "nft multiwan-forward: nat.backend",
    ]);
    assert.deepEqual(
      stackPlan("home", "iptables")
        .preflight.owned.filter((o) => o.object === "chain")
        .map(spelled),
      [
        "chain MW-MARK-isp1-PRE: uplinks[0].name or nat.backend",
        "chain MW-MARK-isp1-OUT: uplinks[0].name or nat.backend",
        "chain MW-MARK-isp1-POST: uplinks[0].name or nat.backend",
        "chain MW-MARK-isp2-PRE: uplinks[1].name or nat.backend",
        "chain MW-MARK-isp2-OUT: uplinks[1].name or nat.backend",
        "chain MW-MARK-isp2-POST: uplinks[1].name or nat.backend",
        "chain MW-NAT-isp1: uplinks[0].name or nat.backend",
        "chain MW-NAT-isp2: uplinks[1].name or nat.backend",
        "chain MW-FORWARD: nat.backend",
      ],
    );
  });

  test("the iptables backend changes only the NAT entries", () => {
    const ipt = stackPlan("home", "iptables");
    assert.deepEqual(
      ipt.masquerade.map((m) => m.backend),
      ["iptables", "iptables"],
    );
    assert.equal(ipt.forward.backend, "iptables");
    assert.deepEqual(
      { ...ipt, masquerade: [], forward: null, preflight: null, marks: [], portForwards: [] },
      { ...plan, masquerade: [], forward: null, preflight: null, marks: [], portForwards: [] },
    );
  });
});

describe("office: three uplinks of different sizes, 3:2:1", () => {
  const plan = stackPlan("office");

  test("uplinks /29, /24 and /28 with their subnets in every table", () => {
    assert.deepEqual(
      plan.tables.map((t) => [t.uplink, t.table, t.routes[0]]),
      [
        ["fibre", 101, "203.0.113.40/29 dev wan0 src 203.0.113.42"],
        ["cable", 102, "198.51.100.0/24 dev wan1 src 198.51.100.17"],
        ["lte", 103, "100.64.7.0/28 dev wwan0 src 100.64.7.2"],
      ],
    );
    for (const t of plan.tables) {
      assert.equal(t.routes.length, 6, "own subnet, default, LAN, two other uplinks, loopback");
      assert.deepEqual(
        t.routes
          .map((r) => r.split(" ")[0])
          .slice(1)
          .sort(),
        ["100.64.7.0/28", "10.20.0.0/22", "127.0.0.0/8", "198.51.100.0/24", "203.0.113.40/29", "default"]
          .filter((d) => d !== t.routes[0].split(" ")[0])
          .sort(),
      );
    }
  });

  test("weights 3:2:1 are traffic shares 1/2, 1/3, 1/6", () => {
    assert.deepEqual(
      plan.multipath.nexthops.map((n) => n.weight),
      [3, 2, 1],
    );
    const shares = trafficShares(plan.multipath);
    const want = { fibre: 1 / 2, cable: 1 / 3, lte: 1 / 6 };
    for (const [name, share] of Object.entries(want)) assert.ok(Math.abs(shares[name] - share) < 1e-12, `${name}: ${shares[name]}`);
    assert.ok(Math.abs(Object.values(shares).reduce((a, b) => a + b, 0) - 1) < 1e-12);
  });

  test("rules 1001..1003, pinned routes per uplink (none for lte)", () => {
    assert.deepEqual(
      plan.rules.map((r) => [r.priority, r.from, r.table]),
      [
        [1001, "203.0.113.42", 101],
        [1002, "198.51.100.17", 102],
        [1003, "100.64.7.2", 103],
      ],
    );
    assert.deepEqual(
      plan.pinned.map((p) => [p.uplink, p.via, p.dev, p.destinations]),
      [
        ["fibre", "203.0.113.41", "wan0", ["203.0.113.128/28"]],
        ["cable", "198.51.100.1", "wan1", ["198.18.40.0/22"]],
      ],
    );
    assert.deepEqual(plan.forward.uplinkInterfaces, ["wan0", "wan1", "wwan0"]);
  });
});

describe("planner details", () => {
  test("several pins to one uplink become one entry, in the order written", () => {
    const plan = planSite(
      validSite(
        editedSite("home", (s) => {
          s.pinnedRoutes = [
            { destination: "8.8.8.8/32", uplink: "isp1" },
            { destination: "1.1.1.0/24", uplink: "isp2" },
            { destination: "9.9.9.9/32", uplink: "isp1" },
          ];
        }),
      ),
    );
    assert.deepEqual(
      plan.pinned.map((p) => [p.uplink, p.destinations]),
      [
        ["isp1", ["8.8.8.8", "9.9.9.9"]],
        ["isp2", ["1.1.1.0/24"]],
      ],
    );
  });

  test("a dotted interface name: sysctl name with /, /proc path with .", () => {
    const plan = planSite(
      validSite(
        editedSite("home", (s) => {
          s.uplinks[0].interface = "eth1.100";
        }),
      ),
    );
    assert.equal(plan.host.sysctls["net.ipv4.conf.eth1/100.rp_filter"], "2");
    assert.equal(sysctlPath("net.ipv4.conf.eth1/100.rp_filter"), "/proc/sys/net/ipv4/conf/eth1.100/rp_filter");
  });

  test("routing numbers flow into every entry", () => {
    const plan = planSite(
      validSite(
        editedSite("home", (s) => {
          s.routing = {
            protocol: 99,
            table: 250,
            tableBase: 300,
            priorityBase: 2000,
            mainPriority: 31000,
            multipathPriority: 31100,
            hashPolicy: 0,
          };
        }),
      ),
    );
    assert.deepEqual(
      plan.tables.map((t) => [t.table, t.protocol]),
      [
        [301, 99],
        [302, 99],
      ],
    );
    assert.deepEqual(
      plan.rules.map((r) => [r.priority, r.table, r.protocol]),
      [
        [2001, 301, 99],
        [2002, 302, 99],
      ],
    );
    assert.deepEqual([plan.multipath.table, plan.multipath.mainPriority, plan.multipath.multipathPriority], [250, 31000, 31100]);
    assert.equal(plan.pinned[0].table, 250);
    assert.equal(plan.host.sysctls["net.ipv4.fib_multipath_hash_policy"], "0");
    assert.equal(plan.host.tableNames.at(-1), "250 multiwan");
  });
});

describe("planResources: order and dependencies", () => {
  test("home: host, tables, rules, marks, multipath, pinned, masquerade, forward, health monitor", () => {
    const resources = planResources(stackPlan("home"));
    assert.deepEqual(
      resources.map((r) => [r.kind, r.key, r.dependsOn]),
      [
        ["GatewayHost", "host", []],
        ["RoutingTable", "table-isp1", ["host"]],
        ["RoutingTable", "table-isp2", ["host"]],
        ["PolicyRule", "rule-isp1", ["table-isp1"]],
        ["PolicyRule", "rule-isp2", ["table-isp2"]],
        ["ConnectionMark", "mark-isp1", ["table-isp1"]],
        ["ConnectionMark", "mark-isp2", ["table-isp2"]],
        ["MultipathDefaultRoute", "multipath", ["host", "table-isp1", "table-isp2", "mark-isp1", "mark-isp2"]],
        ["PinnedRoutes", "pinned-isp2", ["host"]],
        ["Masquerade", "masquerade-isp1", ["host"]],
        ["Masquerade", "masquerade-isp2", ["host"]],
        ["Forward", "forward", ["host"]],
        ["HealthMonitor", "health", ["host", "mark-isp1", "mark-isp2", "multipath", "pinned-isp2"]],
      ],
    );
  });

  for (const name of ["home", "office"] as const) {
    test(`${name}: keys are unique and every dependency comes earlier`, () => {
      const resources = planResources(stackPlan(name));
      const seen = new Set<string>();
      for (const r of resources) {
        assert.ok(!seen.has(r.key), `duplicate key ${r.key}`);
        for (const d of r.dependsOn) assert.ok(seen.has(d), `${r.key} depends on ${d}, which is not created before it`);
        seen.add(r.key);
      }
      const plan = stackPlan(name);
      assert.equal(
        resources.length,
        1 +
          plan.tables.length +
          plan.rules.length +
          plan.marks.length +
          1 +
          plan.pinned.length +
          plan.masquerade.length +
          1 +
          plan.portForwards.length +
          (plan.health ? 1 : 0),
      );
    });
  }

  test("each resource carries its plan entry unchanged", () => {
    const plan = stackPlan("office");
    const resources = planResources(plan);
    assert.equal(resources[0].entry, plan.host);
    assert.deepEqual(
      resources.filter((r) => r.kind === "RoutingTable").map((r) => r.entry),
      plan.tables,
    );
    assert.deepEqual(
      resources.filter((r) => r.kind === "PolicyRule").map((r) => r.entry),
      plan.rules,
    );
    assert.deepEqual(
      resources.filter((r) => r.kind === "PinnedRoutes").map((r) => r.entry),
      plan.pinned,
    );
  });
});

describe("what the scripts never do", () => {
  const plans: [string, Plan][] = [
    ["home/nftables", stackPlan("home", "nftables")],
    ["home/iptables", stackPlan("home", "iptables")],
    ["office/nftables", stackPlan("office", "nftables")],
    ["office/iptables", stackPlan("office", "iptables")],
    ["dhcp/nftables", planSite(validSite(dhcpSite()))],
  ];
  const scripts = plans.flatMap(([name, plan]) =>
    renderAll(plan).flatMap((r) =>
      (["apply", "remove", "read"] as const).map((part) => ({ name: `${name} ${r.resource.key} ${part}`, text: r[part], plan })),
    ),
  );

  test("no seed-post typos in home's scripts: no network address without its length, no doubled `via`", () => {
    for (const s of scripts.filter((x) => x.name.startsWith("home"))) {
      for (const line of s.text.split("\n")) {
        assert.doesNotMatch(line, /\b192\.168\.[0-9]+\.0(?![0-9/])/, `${s.name}: a network address without /24: ${line}`);
        assert.doesNotMatch(line, /\bvia \S+ via\b/, `${s.name}: ${line}`);
        assert.doesNotMatch(line, /\bvia 192\.168\.2\.254 via\b/, `${s.name}: ${line}`);
      }
    }
  });

  test("no script touches the main table's routes, or any table but ours", () => {
    for (const s of scripts) {
      const ours = new Set([s.plan.multipath.table, ...s.plan.tables.map((t) => t.table)].map(String));
      for (const line of s.text.split("\n")) {
        assert.doesNotMatch(line, /\btable (main|local|default|254|255|253)\b/, `${s.name}: ${line}`);
        if (/\broute (add|append|replace|change|del|flush|prepend)\b/.test(line) && !/^\s*#/.test(line)) {
          const table = /\btable (\S+)/.exec(line);
          assert.ok(table, `${s.name}: a route change without a table is a change to main: ${line}`);
          assert.ok(
            ours.has(table[1]) || table[1] === '"$mw_t"' || table[1] === '"$table"' || table[1] === "$table", // "$table": the monitor's own, also unquoted in the lines it feeds ip -batch
            `${s.name}: table ${table[1]} is not ours: ${line}`,
          );
        }
      }
    }
  });

  test("main is only ever consulted (lookup 254 suppress_prefixlength 0), never changed", () => {
    assert.ok(
      scripts.some((s) => s.text.includes("'from all lookup 254 suppress_prefixlength 0'")),
      "the main rule is there",
    );
    for (const s of scripts) {
      for (const line of s.text.split("\n").filter((l) => /\b(lookup|table) (254|main)\b/.test(l))) {
        assert.match(line, /^mw_rule \d+ 'from all lookup 254 suppress_prefixlength 0' \d+$/, `${s.name}: ${line}`);
      }
    }
  });

  test("rt_tables itself is never written: only /etc/iproute2/rt_tables.d/multiwan.conf", () => {
    for (const s of scripts) {
      assert.doesNotMatch(s.text, /\/etc\/iproute2\/rt_tables(?!\.d)/, s.name);
      for (const m of s.text.matchAll(/\/etc\/iproute2\/rt_tables\.d\/([^\s"';]*)/g)) assert.match(m[1], /^(multiwan\.conf|)$/, s.name);
    }
  });
});
