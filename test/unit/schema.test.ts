// lib/schema.ts + lib/validate.ts: the site model. The stack files are valid,
// defaults are applied, and every invalid site is refused with a line that
// names the exact field ("<path>: <sentence>"), all problems in one go.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { MAX_UPLINKS, uplinkPriority, uplinkTable } from "../../lib/schema";
import { planSite } from "../../lib/plan";
import { validateSite } from "../../lib/validate";
import { editedSite, rawSite, validSite, type StackName } from "../support/fixtures";

type Edit = (site: Record<string, any>) => unknown;

function problemsOf(raw: unknown): string[] {
  const result = validateSite(raw);
  assert.equal(result.ok, false, "expected the site to be refused");
  return (result as { problems: string[] }).problems;
}

/** Asserts a problem exactly at `path` whose sentence contains (or matches) `message`. */
function assertProblem(problems: string[], path: string, message: string | RegExp): void {
  const atPath = problems.filter((p) => p.startsWith(`${path}: `)).map((p) => p.slice(path.length + 2));
  const found = atPath.some((m) => (typeof message === "string" ? m.includes(message) : message.test(m)));
  assert.ok(found, `expected a problem "${path}: …${message}…"; got:\n  ${problems.join("\n  ")}`);
}

/** n uplinks on 10.<i>.0.0/24, named u1..un, on w1..wn. */
function uplinks(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    name: `u${i + 1}`,
    interface: `w${i + 1}`,
    address: `10.${i + 1}.0.2/24`,
    gateway: `10.${i + 1}.0.1`,
  }));
}

// ---- public key lines of every supported type, built from fresh keys ----

const sshString = (data: Buffer | string) => {
  const body = Buffer.isBuffer(data) ? data : Buffer.from(data, "latin1");
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body]);
};
const mpint = (raw: Buffer) => {
  let i = 0;
  while (i < raw.length - 1 && raw[i] === 0) i++;
  const trimmed = raw.subarray(i);
  return sshString(trimmed[0] & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
};
const b64url = (s: string) => Buffer.from(s, "base64url");

function ecdsaLine(bits: 256 | 384 | 521): string {
  const curve = { 256: "prime256v1", 384: "secp384r1", 521: "secp521r1" }[bits];
  const jwk = generateKeyPairSync("ec", { namedCurve: curve }).publicKey.export({ format: "jwk" });
  const point = Buffer.concat([Buffer.from([4]), b64url(jwk.x!), b64url(jwk.y!)]);
  const type = `ecdsa-sha2-nistp${bits}`;
  return `${type} ${Buffer.concat([sshString(type), sshString(`nistp${bits}`), sshString(point)]).toString("base64")} root@gw`;
}
function rsaLine(): string {
  const jwk = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ format: "jwk" });
  return `ssh-rsa ${Buffer.concat([sshString("ssh-rsa"), mpint(b64url(jwk.e!)), mpint(b64url(jwk.n!))]).toString("base64")}`;
}
function ed25519Line(): string {
  const jwk = generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" });
  return `ssh-ed25519 ${Buffer.concat([sshString("ssh-ed25519"), sshString(b64url(jwk.x!))]).toString("base64")}`;
}

describe("the stack files", () => {
  for (const name of ["home", "office"] as StackName[]) {
    test(`stacks/Pulumi.${name}.yaml is a valid site`, () => {
      const result = validateSite(rawSite(name));
      assert.deepEqual(result.ok ? [] : result.problems, []);
    });
  }

  test("home as written: the post's values survive validation unchanged", () => {
    const site = validSite(rawSite("home"));
    assert.equal(site.host.address, "192.168.3.100");
    assert.deepEqual(site.lan, { interface: "eth0", address: "192.168.3.100/24" });
    assert.deepEqual(
      site.uplinks.map((u) => [u.name, u.interface, u.address, u.gateway, u.weight]),
      [
        ["isp1", "eth1", "192.168.1.1/24", "192.168.1.254", 2],
        ["isp2", "eth2", "192.168.2.1/24", "192.168.2.254", 1],
      ],
    );
    assert.deepEqual(site.pinnedRoutes, [{ destination: "174.143.119.91/32", uplink: "isp2", fallback: true }]);
    assert.equal(site.nat.backend, "nftables");
    assert.deepEqual(site.healthCheck, { targets: ["1.1.1.1", "9.9.9.9"], intervalMs: 500, timeoutMs: 1000, downAfter: 3, upAfter: 5 });
  });
});

describe("healthCheck", () => {
  test("optional: without it no monitor is planned and pinned routes have no fallback", () => {
    const site = validSite(editedSite("home", (s) => void delete s.healthCheck));
    assert.equal(site.healthCheck, undefined);
    const plan = planSite(site);
    assert.equal(plan.health, undefined);
    assert.deepEqual(plan.pinned[0].fallback, []);
    assert.equal(plan.preflight.healthCheck, false);
  });

  test("the bounds are the contract's: intervalMs and timeoutMs 100..10000, downAfter 1..20, upAfter 1..50, 1..4 targets", () => {
    const at = (hc: Record<string, unknown>) =>
      editedSite("home", (s) => {
        s.healthCheck = { targets: ["1.1.1.1"], ...hc };
      });
    for (const ok of [
      { intervalMs: 100, timeoutMs: 100, downAfter: 1, upAfter: 1 },
      { intervalMs: 10000, timeoutMs: 10000, downAfter: 20, upAfter: 50 },
      { targets: ["1.1.1.1", "8.8.8.8", "9.9.9.9", "1.0.0.1"] },
    ])
      validSite(at(ok));
    for (const [bad, path] of [
      [{ intervalMs: 99 }, "healthCheck.intervalMs"],
      [{ intervalMs: 10001 }, "healthCheck.intervalMs"],
      [{ timeoutMs: 99 }, "healthCheck.timeoutMs"],
      [{ timeoutMs: 10001 }, "healthCheck.timeoutMs"],
      [{ downAfter: 0 }, "healthCheck.downAfter"],
      [{ downAfter: 21 }, "healthCheck.downAfter"],
      [{ upAfter: 0 }, "healthCheck.upAfter"],
      [{ upAfter: 51 }, "healthCheck.upAfter"],
      [{ downAfter: 2.5 }, "healthCheck.downAfter"],
      [{ targets: [] }, "healthCheck.targets"],
      [{ targets: ["1.1.1.1", "8.8.8.8", "9.9.9.9", "1.0.0.1", "4.4.4.4"] }, "healthCheck.targets"],
      [{ targets: ["1.1.1"] }, "healthCheck.targets[0]"],
      [{ targets: ["192.168.3.1"] }, "healthCheck.targets[0]"],
      [{ tragets: ["1.1.1.1"] }, "healthCheck.tragets"],
    ] as const) {
      const result = validateSite(at(bad));
      assert.ok(!result.ok, JSON.stringify(bad));
      assert.ok(
        result.problems.some((p) => p.startsWith(`${path}: `)),
        `${JSON.stringify(bad)} is reported at ${path}: ${result.problems.join("; ")}`,
      );
    }
  });

  test("an uplink's own targets replace the site's for that uplink only; pinned fallback defaults to true", () => {
    const plan = planSite(
      validSite(
        editedSite("home", (s) => {
          s.uplinks[1].healthCheck = { targets: ["8.8.8.8"] };
          s.pinnedRoutes.push({ destination: "198.51.100.0/24", uplink: "isp2", fallback: false });
        }),
      ),
    );
    assert.deepEqual(
      plan.health?.uplinks.map((u) => [u.name, u.targets, u.fallback]),
      [
        ["isp1", ["1.1.1.1", "9.9.9.9"], []],
        ["isp2", ["8.8.8.8"], ["174.143.119.91"]],
      ],
    );
    assert.deepEqual(plan.pinned[0].destinations, ["174.143.119.91", "198.51.100.0/24"]);
    assert.deepEqual(plan.pinned[0].fallback, ["174.143.119.91"]);
  });
});

describe("defaults", () => {
  const minimal = () =>
    validSite(
      editedSite("home", (s) => {
        delete s.host.user;
        delete s.host.port;
        for (const u of s.uplinks) delete u.weight;
        delete s.pinnedRoutes;
        delete s.nat;
        delete s.routing;
      }),
    );

  test("host: port 22, user root, host key checking on", () => {
    const { host } = minimal();
    assert.equal(host.port, 22);
    assert.equal(host.user, "root");
    assert.equal(host.insecureIgnoreHostKey, false);
  });

  test("uplinks: weight 1, tables 101.. and rule priorities 1001.. in list order", () => {
    const site = minimal();
    assert.deepEqual(
      site.uplinks.map((u) => u.weight),
      [1, 1],
    );
    assert.deepEqual(
      site.uplinks.map((u, i) => uplinkTable(site, u, i)),
      [101, 102],
    );
    assert.deepEqual(
      site.uplinks.map((u, i) => uplinkPriority(site, u, i)),
      [1001, 1002],
    );
  });

  test("routing defaults, NAT with nftables, no pinned routes", () => {
    const site = minimal();
    assert.deepEqual(site.routing, {
      protocol: 77,
      table: 200,
      tableBase: 100,
      priorityBase: 1000,
      mainPriority: 30000,
      multipathPriority: 30100,
      markMask: 0xff00,
      hashPolicy: 1,
    });
    assert.deepEqual(site.nat, { backend: "nftables" });
    assert.deepEqual(site.pinnedRoutes, []);
  });

  test("a partial routing mapping keeps the other defaults; bases move the derived ids", () => {
    const site = validSite(
      editedSite("office", (s) => {
        s.routing = { tableBase: 300, priorityBase: 2000 };
      }),
    );
    assert.equal(site.routing.protocol, 77);
    assert.equal(site.routing.table, 200);
    assert.deepEqual(
      site.uplinks.map((u, i) => uplinkTable(site, u, i)),
      [301, 302, 303],
    );
    assert.deepEqual(
      site.uplinks.map((u, i) => uplinkPriority(site, u, i)),
      [2001, 2002, 2003],
    );
  });

  test("an explicit table or priority wins over the derived one for that uplink only", () => {
    const site = validSite(
      editedSite("office", (s) => {
        s.uplinks[1].table = 7;
        s.uplinks[1].priority = 500;
      }),
    );
    assert.deepEqual(
      site.uplinks.map((u, i) => uplinkTable(site, u, i)),
      [101, 7, 103],
    );
    assert.deepEqual(
      site.uplinks.map((u, i) => uplinkPriority(site, u, i)),
      [1001, 500, 1003],
    );
  });
});

describe("valid edge cases", () => {
  const valid: [string, Edit][] = [
    [
      "a /31 uplink (RFC 3021), gateway on the other address",
      (s) => {
        s.uplinks[0].address = "192.168.1.0/31";
        s.uplinks[0].gateway = "192.168.1.1";
      },
    ],
    [
      "a /30 uplink",
      (s) => {
        s.uplinks[0].address = "192.168.1.1/30";
        s.uplinks[0].gateway = "192.168.1.2";
      },
    ],
    [
      "weights 1 and 256",
      (s) => {
        s.uplinks[0].weight = 256;
        s.uplinks[1].weight = 1;
      },
    ],
    [
      "exactly 16 uplinks",
      (s) => {
        s.uplinks = uplinks(MAX_UPLINKS);
        s.pinnedRoutes = [];
      },
    ],
    [
      "one uplink",
      (s) => {
        s.uplinks.pop();
        s.pinnedRoutes = [];
      },
    ],
    [
      "a DNS name as host address",
      (s) => {
        s.host.address = "gw-1.example.net";
      },
    ],
    [
      "no host key with insecureIgnoreHostKey: true",
      (s) => {
        delete s.host.hostKey;
        s.host.insecureIgnoreHostKey = true;
      },
    ],
    [
      "a host key with a comment",
      (s) => {
        s.host.hostKey += " root@gateway";
      },
    ],
    [
      "a host key as ssh-keyscan prints it, host first",
      (s) => {
        s.host.hostKey = `192.168.3.100 ${s.host.hostKey}`;
      },
    ],
    [
      "a host key as ssh-keyscan prints it for another port",
      (s) => {
        s.host.hostKey = `[192.168.3.100]:2222 ${s.host.hostKey} root@gateway`;
      },
    ],
    [
      "VLAN and bridge interface names",
      (s) => {
        s.lan.interface = "br-lan";
        s.uplinks[0].interface = "eth1.100";
        s.uplinks[1].interface = "wan_2=x+y";
      },
    ],
    [
      "a 15-character interface name",
      (s) => {
        s.uplinks[0].interface = "a".repeat(15);
      },
    ],
    [
      "a 15-character uplink name with digits and dashes",
      (s) => {
        s.uplinks[0].name = "fibre-2-backup0";
        s.pinnedRoutes = [];
      },
    ],
    [
      "nested pinned destinations on different uplinks",
      (s) => {
        s.pinnedRoutes = [
          { destination: "10.0.0.0/8", uplink: "isp1" },
          { destination: "10.1.0.0/16", uplink: "isp2" },
        ];
      },
    ],
    [
      "iptables backend and every routing number changed",
      (s) => {
        s.nat.backend = "iptables";
        s.routing = {
          protocol: 5,
          table: 4294967295,
          tableBase: 1,
          priorityBase: 0,
          mainPriority: 32700,
          markPriorityBase: 32762,
          multipathPriority: 32765,
          markMask: 0xffffffff,
          hashPolicy: 0,
        };
      },
    ],
    [
      "explicit tables next to the kernel's reserved ones",
      (s) => {
        s.uplinks[0].table = 252;
        s.uplinks[1].table = 256;
      },
    ],
  ];
  for (const [name, edit] of valid) {
    test(name, () => {
      validSite(editedSite("home", edit));
    });
  }

  for (const [name, line] of [
    ["ssh-ed25519", ed25519Line],
    ["ecdsa-sha2-nistp256", () => ecdsaLine(256)],
    ["ecdsa-sha2-nistp384", () => ecdsaLine(384)],
    ["ecdsa-sha2-nistp521", () => ecdsaLine(521)],
    ["ssh-rsa", rsaLine],
  ] as const) {
    test(`a ${name} host key`, () => {
      validSite(
        editedSite("home", (s) => {
          s.host.hostKey = line();
        }),
      );
    });
  }
});

interface InvalidCase {
  name: string;
  stack?: StackName;
  edit: Edit;
  path: string;
  message: string | RegExp;
  /** Other problems (consequences of the same mistake) may be reported too. */
  others?: boolean;
}

const INVALID: InvalidCase[] = [
  // malformed addresses and prefixes
  {
    name: "gateway with a leading zero",
    edit: (s) => {
      s.uplinks[0].gateway = "192.168.1.0254";
    },
    path: "uplinks[0].gateway",
    message: "must be an IPv4 address like 192.168.1.254",
  },
  {
    name: "gateway with an octet of 256",
    edit: (s) => {
      s.uplinks[0].gateway = "192.168.1.256";
    },
    path: "uplinks[0].gateway",
    message: "must be an IPv4 address",
  },
  {
    name: "gateway with a missing octet",
    edit: (s) => {
      s.uplinks[0].gateway = "192.168.1";
    },
    path: "uplinks[0].gateway",
    message: "must be an IPv4 address",
  },
  {
    name: "gateway written with a prefix length",
    edit: (s) => {
      s.uplinks[0].gateway = "192.168.1.254/24";
    },
    path: "uplinks[0].gateway",
    message: "must be an IPv4 address",
  },
  {
    name: "gateway with surrounding space",
    edit: (s) => {
      s.uplinks[0].gateway = " 192.168.1.254";
    },
    path: "uplinks[0].gateway",
    message: "must be an IPv4 address",
  },
  {
    name: "LAN address without prefix length",
    edit: (s) => {
      s.lan.address = "192.168.3.100";
    },
    path: "lan.address",
    message: "must be an IPv4 address with its prefix length",
  },
  {
    name: "LAN address /33",
    edit: (s) => {
      s.lan.address = "192.168.3.100/33";
    },
    path: "lan.address",
    message: "with its prefix length, like 192.168.1.1/24",
  },
  {
    name: "LAN address with a leading zero",
    edit: (s) => {
      s.lan.address = "192.168.03.100/24";
    },
    path: "lan.address",
    message: "with its prefix length",
  },
  {
    name: "uplink address with a zero-padded length",
    edit: (s) => {
      s.uplinks[1].address = "192.168.2.1/024";
    },
    path: "uplinks[1].address",
    message: "with its prefix length",
  },
  {
    name: "uplink address as a netmask",
    edit: (s) => {
      s.uplinks[1].address = "192.168.2.1/255.255.255.0";
    },
    path: "uplinks[1].address",
    message: "with its prefix length",
  },

  // gateways
  {
    name: "gateway outside its uplink's subnet",
    edit: (s) => {
      s.uplinks[1].gateway = "192.168.9.254";
    },
    path: "uplinks[1].gateway",
    message: "192.168.9.254 is outside uplink isp2's subnet 192.168.2.0/24",
  },
  {
    name: "gateway equal to the uplink's own address",
    edit: (s) => {
      s.uplinks[1].gateway = "192.168.2.1";
    },
    path: "uplinks[1].gateway",
    message: "192.168.2.1 is uplink isp2's own address",
  },
  {
    name: "gateway equal to the network address",
    edit: (s) => {
      s.uplinks[1].gateway = "192.168.2.0";
    },
    path: "uplinks[1].gateway",
    message: "192.168.2.0 is the network address of 192.168.2.0/24",
  },
  {
    name: "gateway equal to the broadcast address",
    edit: (s) => {
      s.uplinks[1].gateway = "192.168.2.255";
    },
    path: "uplinks[1].gateway",
    message: "192.168.2.255 is the broadcast address of 192.168.2.0/24",
  },
  {
    name: "gateway on a /29's network address",
    stack: "office",
    edit: (s) => {
      s.uplinks[0].gateway = "203.0.113.40";
    },
    path: "uplinks[0].gateway",
    message: "203.0.113.40 is the network address of 203.0.113.40/29",
  },
  {
    name: "gateway on a /28's broadcast address",
    stack: "office",
    edit: (s) => {
      s.uplinks[2].gateway = "100.64.7.15";
    },
    path: "uplinks[2].gateway",
    message: "100.64.7.15 is the broadcast address of 100.64.7.0/28",
  },
  {
    name: "gateway just outside a /29",
    stack: "office",
    edit: (s) => {
      s.uplinks[0].gateway = "203.0.113.48";
    },
    path: "uplinks[0].gateway",
    message: "is outside uplink fibre's subnet 203.0.113.40/29",
  },

  // interface addresses
  {
    name: "LAN address is its subnet's network address",
    edit: (s) => {
      s.lan.address = "192.168.3.0/24";
    },
    path: "lan.address",
    message: "192.168.3.0 is the network address of 192.168.3.0/24",
  },
  {
    name: "LAN address is its subnet's broadcast address",
    edit: (s) => {
      s.lan.address = "192.168.3.255/24";
    },
    path: "lan.address",
    message: "192.168.3.255 is the broadcast address of 192.168.3.0/24",
  },
  {
    name: "uplink address is its subnet's network address",
    edit: (s) => {
      s.uplinks[0].address = "192.168.1.0/24";
    },
    path: "uplinks[0].address",
    message: "192.168.1.0 is the network address",
  },
  {
    name: "uplink address /32",
    edit: (s) => {
      s.uplinks[0].address = "192.168.1.1/32";
    },
    path: "uplinks[0].address",
    message: "/32 leaves no room for a neighbour",
    others: true,
  },

  // overlapping subnets
  {
    name: "an uplink on the LAN's subnet",
    edit: (s) => {
      s.uplinks[0].address = "192.168.3.1/24";
      s.uplinks[0].gateway = "192.168.3.254";
    },
    path: "uplinks[0].address",
    message: "192.168.3.0/24 overlaps the LAN's subnet 192.168.3.0/24",
  },
  {
    name: "a LAN that contains the uplinks",
    edit: (s) => {
      s.lan.address = "192.168.0.1/16";
    },
    path: "uplinks[0].address",
    message: "overlaps the LAN's subnet 192.168.0.0/16",
    others: true,
  },
  {
    name: "two uplinks on overlapping subnets",
    edit: (s) => {
      s.uplinks[1].address = "192.168.1.129/25";
      s.uplinks[1].gateway = "192.168.1.130";
    },
    path: "uplinks[1].address",
    message: "192.168.1.128/25 overlaps uplink isp1's subnet 192.168.1.0/24",
  },

  // duplicates
  {
    name: "duplicate uplink names",
    edit: (s) => {
      s.uplinks[1].name = "isp1";
      s.pinnedRoutes = [];
    },
    path: "uplinks[1].name",
    message: 'uplink name "isp1" is already used by uplinks[0].name',
  },
  {
    name: "two uplinks on one interface",
    edit: (s) => {
      s.uplinks[1].interface = "eth1";
    },
    path: "uplinks[1].interface",
    message: "interface eth1 is already used by uplinks[0].interface",
  },
  {
    name: "an uplink on the LAN's interface",
    edit: (s) => {
      s.uplinks[0].interface = "eth0";
    },
    path: "uplinks[0].interface",
    message: "interface eth0 is already used by lan.interface",
  },
  {
    name: "duplicate explicit table ids",
    edit: (s) => {
      s.uplinks[0].table = 300;
      s.uplinks[1].table = 300;
    },
    path: "uplinks[1].table",
    message: "table id 300 is already used by uplinks[0].table",
  },
  {
    name: "an explicit table id equal to another uplink's derived one",
    edit: (s) => {
      s.uplinks[0].table = 102;
    },
    path: "uplinks[1].table",
    message: "table id 102 is already used by uplinks[0].table",
  },
  {
    name: "an uplink table equal to the multipath table",
    edit: (s) => {
      s.uplinks[0].table = 200;
    },
    path: "uplinks[0].table",
    message: "table id 200 is already used by routing.table",
  },
  {
    name: "a multipath table equal to a derived uplink table",
    edit: (s) => {
      s.routing = { table: 101 };
    },
    path: "uplinks[0].table",
    message: "table id 101 is already used by routing.table",
  },
  {
    name: "duplicate rule priorities",
    edit: (s) => {
      s.uplinks[1].priority = 1001;
    },
    path: "uplinks[1].priority",
    message: "rule priority 1001 is already used by uplinks[0].priority",
  },
  {
    name: "an uplink priority equal to the main rule's",
    edit: (s) => {
      s.uplinks[0].priority = 30000;
    },
    path: "uplinks[0].priority",
    message: "already used by routing.mainPriority",
    others: true,
  },
  {
    name: "an uplink priority after the main rule",
    edit: (s) => {
      s.uplinks[0].priority = 30500;
    },
    path: "uplinks[0].priority",
    message: "must be below routing.mainPriority (30000)",
  },

  // table ids
  {
    name: "table 0",
    edit: (s) => {
      s.uplinks[0].table = 0;
    },
    path: "uplinks[0].table",
    message: "(0 is reserved)",
  },
  {
    name: "table 253 (default)",
    edit: (s) => {
      s.uplinks[0].table = 253;
    },
    path: "uplinks[0].table",
    message: `table 253 is reserved for the kernel's "default" table`,
  },
  {
    name: "table 254 (main)",
    edit: (s) => {
      s.uplinks[0].table = 254;
    },
    path: "uplinks[0].table",
    message: `table 254 is reserved for the kernel's "main" table`,
  },
  {
    name: "table 255 (local)",
    edit: (s) => {
      s.uplinks[0].table = 255;
    },
    path: "uplinks[0].table",
    message: `table 255 is reserved for the kernel's "local" table`,
  },
  {
    name: "table 2^32",
    edit: (s) => {
      s.uplinks[0].table = 4294967296;
    },
    path: "uplinks[0].table",
    message: "must be between 1 and 4294967295",
  },
  {
    name: "a negative table",
    edit: (s) => {
      s.uplinks[0].table = -1;
    },
    path: "uplinks[0].table",
    message: "must be between 1 and 4294967295",
  },
  {
    name: "a fractional table",
    edit: (s) => {
      s.uplinks[0].table = 101.5;
    },
    path: "uplinks[0].table",
    message: /whole number|an int/,
  },
  {
    name: "a table as text",
    edit: (s) => {
      s.uplinks[0].table = "101";
    },
    path: "uplinks[0].table",
    message: 'must be a number, not the text "101"',
  },
  {
    name: "the multipath table set to main",
    edit: (s) => {
      s.routing = { table: 254 };
    },
    path: "routing.table",
    message: `reserved for the kernel's "main" table`,
  },
  {
    name: "a table base that derives reserved ids",
    edit: (s) => {
      s.routing = { tableBase: 252 };
    },
    path: "uplinks[0]",
    message: "its default table id 253 (routing.tableBase + 1) is reserved",
    others: true,
  },

  // weights
  {
    name: "weight 0",
    edit: (s) => {
      s.uplinks[0].weight = 0;
    },
    path: "uplinks[0].weight",
    message: "must be between 1 and 256",
  },
  {
    name: "weight 257",
    edit: (s) => {
      s.uplinks[0].weight = 257;
    },
    path: "uplinks[0].weight",
    message: "must be between 1 and 256",
  },
  {
    name: "a negative weight",
    edit: (s) => {
      s.uplinks[1].weight = -2;
    },
    path: "uplinks[1].weight",
    message: "must be between 1 and 256",
  },
  {
    name: "a fractional weight",
    edit: (s) => {
      s.uplinks[0].weight = 1.5;
    },
    path: "uplinks[0].weight",
    message: /whole number|an int/,
  },
  {
    name: "a weight as text",
    edit: (s) => {
      s.uplinks[0].weight = "2";
    },
    path: "uplinks[0].weight",
    message: 'must be a number, not the text "2"',
  },

  // interface names
  {
    name: "a 16-character interface name",
    edit: (s) => {
      s.uplinks[0].interface = "a".repeat(16);
    },
    path: "uplinks[0].interface",
    message: "must be a Linux interface name: 1 to 15",
  },
  {
    name: "an interface name with a space",
    edit: (s) => {
      s.uplinks[0].interface = "eth 1";
    },
    path: "uplinks[0].interface",
    message: "must be a Linux interface name",
  },
  {
    name: "an interface name with a slash",
    edit: (s) => {
      s.uplinks[0].interface = "eth/1";
    },
    path: "uplinks[0].interface",
    message: "must be a Linux interface name",
  },
  {
    name: "an empty interface name",
    edit: (s) => {
      s.lan.interface = "";
    },
    path: "lan.interface",
    message: "must be a Linux interface name",
  },
  {
    name: "an interface alias with a colon",
    edit: (s) => {
      s.uplinks[0].interface = "eth1:0";
    },
    path: "uplinks[0].interface",
    message: "must be a Linux interface name",
  },
  {
    name: "a non-ASCII interface name",
    edit: (s) => {
      s.uplinks[0].interface = "eth1ü";
    },
    path: "uplinks[0].interface",
    message: "must be a Linux interface name",
  },

  // uplink names
  {
    name: "an uppercase uplink name",
    edit: (s) => {
      s.uplinks[0].name = "ISP1";
    },
    path: "uplinks[0].name",
    message: "must be a short name: a lowercase letter",
  },
  {
    name: "an uplink name with a leading digit",
    edit: (s) => {
      s.uplinks[0].name = "1isp";
    },
    path: "uplinks[0].name",
    message: "must be a short name",
  },
  {
    name: "a 16-character uplink name",
    edit: (s) => {
      s.uplinks[0].name = "a".repeat(16);
    },
    path: "uplinks[0].name",
    message: "up to 14 lowercase letters",
  },
  {
    name: "an uplink name with an underscore",
    edit: (s) => {
      s.uplinks[0].name = "isp_1";
    },
    path: "uplinks[0].name",
    message: "must be a short name",
  },
  {
    name: "an empty uplink name",
    edit: (s) => {
      s.uplinks[0].name = "";
    },
    path: "uplinks[0].name",
    message: "must be a short name",
  },
  ...["main", "local", "default", "unspec", "all", "multiwan"].map(
    (name): InvalidCase => ({
      name: `the reserved uplink name "${name}"`,
      edit: (s) => {
        s.uplinks[0].name = name;
      },
      path: "uplinks[0].name",
      message: `"${name}" is reserved`,
    }),
  ),

  // pinned routes
  {
    name: "a pinned route to an unknown uplink",
    edit: (s) => {
      s.pinnedRoutes[0].uplink = "isp3";
    },
    path: "pinnedRoutes[0].uplink",
    message: 'names no uplink: "isp3" (uplinks are "isp1", "isp2")',
  },
  {
    name: "a pinned route naming an uplink by interface",
    edit: (s) => {
      s.pinnedRoutes[0].uplink = "eth2";
    },
    path: "pinnedRoutes[0].uplink",
    message: 'names no uplink: "eth2"',
  },
  {
    name: "a destination pinned twice to one uplink",
    edit: (s) => {
      s.pinnedRoutes.push({ destination: "174.143.119.91/32", uplink: "isp2" });
    },
    path: "pinnedRoutes[1].destination",
    message: "174.143.119.91/32 is already pinned by pinnedRoutes[0].destination",
  },
  {
    name: "a destination pinned to two uplinks",
    edit: (s) => {
      s.pinnedRoutes.push({ destination: "174.143.119.91/32", uplink: "isp1" });
    },
    path: "pinnedRoutes[1].destination",
    message: "is already pinned by pinnedRoutes[0].destination",
  },
  // The canonical spelling is the only one accepted (no leading zeros, no
  // host bits), so "the same prefix written differently" is refused outright.
  {
    name: "the same prefix written with host bits (refused, and still seen as a repeat)",
    edit: (s) => {
      s.pinnedRoutes.push({ destination: "174.143.119.91/24", uplink: "isp1" }, { destination: "174.143.119.0/24", uplink: "isp1" });
    },
    path: "pinnedRoutes[2].destination",
    message: "174.143.119.0/24 is already pinned by pinnedRoutes[1].destination",
    others: true,
  },
  {
    name: "the same prefix written with a leading zero",
    edit: (s) => {
      s.pinnedRoutes.push({ destination: "174.143.119.091/32", uplink: "isp1" });
    },
    path: "pinnedRoutes[1].destination",
    message: "must be a destination prefix",
  },
  {
    name: "a pinned destination with host bits set",
    edit: (s) => {
      s.pinnedRoutes[0].destination = "174.143.119.91/16";
    },
    path: "pinnedRoutes[0].destination",
    message: "has host bits set; the prefix is 174.143.0.0/16",
  },
  {
    name: "a pinned bare address",
    edit: (s) => {
      s.pinnedRoutes[0].destination = "174.143.119.91";
    },
    path: "pinnedRoutes[0].destination",
    message: "174.143.119.91 has no prefix length; write 174.143.119.91/32 for one host",
  },
  {
    name: "a pinned default route",
    edit: (s) => {
      s.pinnedRoutes[0].destination = "0.0.0.0/0";
    },
    path: "pinnedRoutes[0].destination",
    message: "0.0.0.0/0 is the multipath default itself",
  },
  {
    name: "a malformed pinned destination",
    edit: (s) => {
      s.pinnedRoutes[0].destination = "174.143.119/24";
    },
    path: "pinnedRoutes[0].destination",
    message: "must be a destination prefix like",
  },
  {
    name: "a pinned destination as a number",
    edit: (s) => {
      s.pinnedRoutes[0].destination = 174;
    },
    path: "pinnedRoutes[0].destination",
    message: "must be a string, not number 174",
  },

  // unknown keys
  {
    name: "an unknown top-level key",
    edit: (s) => {
      s.extra = true;
    },
    path: "extra",
    message: /^unknown field$/,
  },
  {
    name: "a misspelt top-level key",
    edit: (s) => {
      s.hots = {};
    },
    path: "hots",
    message: 'unknown field (did you mean "host"?)',
  },
  {
    name: "an unknown key in host",
    edit: (s) => {
      s.host.adress = "x";
    },
    path: "host.adress",
    message: 'unknown field (did you mean "address"?)',
  },
  {
    name: "an unknown key in lan",
    edit: (s) => {
      s.lan.gateway = "192.168.3.1";
    },
    path: "lan.gateway",
    message: "unknown field",
  },
  {
    name: "a misspelt uplink key",
    edit: (s) => {
      s.uplinks[0].wieght = 2;
    },
    path: "uplinks[0].wieght",
    message: 'unknown field (did you mean "weight"?)',
  },
  {
    name: "a misspelt key in the second uplink",
    edit: (s) => {
      s.uplinks[1].gatway = "192.168.2.254";
    },
    path: "uplinks[1].gatway",
    message: 'unknown field (did you mean "gateway"?)',
  },
  {
    name: "an unknown key in a pinned route",
    edit: (s) => {
      s.pinnedRoutes[0].via = "192.168.2.254";
    },
    path: "pinnedRoutes[0].via",
    message: "unknown field",
  },
  {
    name: "a misspelt nat key",
    edit: (s) => {
      s.nat.bakend = "iptables";
    },
    path: "nat.bakend",
    message: 'unknown field (did you mean "backend"?)',
  },
  {
    name: "a misspelt routing key",
    edit: (s) => {
      s.routing = { tabel: 200 };
    },
    path: "routing.tabel",
    message: 'unknown field (did you mean "table"?)',
  },

  // host keys
  {
    name: "a garbage host key",
    edit: (s) => {
      s.host.hostKey = "garbage";
    },
    path: "host.hostKey",
    message: 'must be one line "<type> <base64 key> [comment]"',
  },
  {
    name: "an empty host key",
    edit: (s) => {
      s.host.hostKey = "";
    },
    path: "host.hostKey",
    message: "must be one line",
  },
  {
    name: "an unsupported key type",
    edit: (s) => {
      s.host.hostKey = "ssh-dss AAAAB3NzaC1kc3MAAACBAP";
    },
    path: "host.hostKey",
    message: 'key type "ssh-dss" is not supported',
  },
  {
    name: "a key truncated by four characters",
    edit: (s) => {
      s.host.hostKey = s.host.hostKey.slice(0, -4);
    },
    path: "host.hostKey",
    message: "the ssh-ed25519 key data has the wrong length",
  },
  {
    name: "a key truncated by one character",
    edit: (s) => {
      s.host.hostKey = s.host.hostKey.slice(0, -1);
    },
    path: "host.hostKey",
    message: "the key's base64 text is damaged",
  },
  {
    name: "a key line whose type does not match its data",
    edit: (s) => {
      s.host.hostKey = s.host.hostKey.replace("ssh-ed25519", "ssh-rsa");
    },
    path: "host.hostKey",
    message: 'the key data is a "ssh-ed25519" key, not "ssh-rsa"',
  },
  {
    name: "an ecdsa line with an ed25519 key's data",
    edit: (s) => {
      s.host.hostKey = s.host.hostKey.replace("ssh-ed25519", "ecdsa-sha2-nistp256");
    },
    path: "host.hostKey",
    message: "the line is mispasted",
  },
  {
    name: "two key lines",
    edit: (s) => {
      s.host.hostKey = `${s.host.hostKey}\n${s.host.hostKey}`;
    },
    path: "host.hostKey",
    message: "must be one line",
  },
  {
    name: "a line with a host field but no key",
    edit: (s) => {
      s.host.hostKey = "192.168.3.100 ssh-ed25519";
    },
    path: "host.hostKey",
    message: "must be one line",
  },
  {
    name: "no host key and no opt-out",
    edit: (s) => {
      delete s.host.hostKey;
    },
    path: "host.hostKey",
    message: "is required: the gateway's public host key",
  },
  {
    name: "no host key and an opt-out that is not true",
    edit: (s) => {
      delete s.host.hostKey;
      s.host.insecureIgnoreHostKey = false;
    },
    path: "host.hostKey",
    message: "host.insecureIgnoreHostKey: true to skip the check",
  },

  // how many uplinks
  {
    name: "zero uplinks",
    edit: (s) => {
      s.uplinks = [];
      s.pinnedRoutes = [];
    },
    path: "uplinks",
    message: "needs at least one uplink",
  },
  {
    name: "17 uplinks",
    edit: (s) => {
      s.uplinks = uplinks(17);
      s.pinnedRoutes = [];
    },
    path: "uplinks",
    message: "at most 16 uplinks are supported",
  },

  // nat
  {
    name: "an unknown NAT backend",
    edit: (s) => {
      s.nat.backend = "pf";
    },
    path: "nat.backend",
    message: 'must be one of "nftables", "iptables", not the text "pf"',
  },
  {
    name: "a NAT backend in the wrong case",
    edit: (s) => {
      s.nat.backend = "NFTABLES";
    },
    path: "nat.backend",
    message: 'not the text "NFTABLES"',
  },

  // wrong types and ranges elsewhere
  {
    name: "the port as text",
    edit: (s) => {
      s.host.port = "22";
    },
    path: "host.port",
    message: 'must be a number, not the text "22"',
  },
  {
    name: "port 0",
    edit: (s) => {
      s.host.port = 0;
    },
    path: "host.port",
    message: "must be at least 1",
  },
  {
    name: "port 65536",
    edit: (s) => {
      s.host.port = 65536;
    },
    path: "host.port",
    message: "must be a TCP port, 1 to 65535",
  },
  {
    name: "an uppercase user",
    edit: (s) => {
      s.host.user = "Root";
    },
    path: "host.user",
    message: "must be a Unix user name",
  },
  {
    name: "a host address that is neither IPv4 nor a DNS name",
    edit: (s) => {
      s.host.address = "gw_1.example.net";
    },
    path: "host.address",
    message: "must be an IPv4 address or a DNS name",
  },
  {
    name: "insecureIgnoreHostKey as text",
    edit: (s) => {
      s.host.insecureIgnoreHostKey = "yes";
    },
    path: "host.insecureIgnoreHostKey",
    message: 'must be a boolean, not the text "yes"',
    others: true,
  },
  {
    name: "uplinks as a mapping",
    edit: (s) => {
      s.uplinks = { isp1: s.uplinks[0] };
      s.pinnedRoutes = [];
    },
    path: "uplinks",
    message: "must be a list, not a mapping",
  },
  {
    name: "lan as a list",
    edit: (s) => {
      s.lan = ["eth0", "192.168.3.100/24"];
    },
    path: "lan",
    message: "must be a mapping, not a list",
  },
  {
    name: "an uplink as text",
    edit: (s) => {
      s.uplinks[1] = "isp2";
      s.pinnedRoutes = [];
    },
    path: "uplinks[1]",
    message: 'must be a mapping, not the text "isp2"',
  },
  {
    name: "pinnedRoutes as a mapping",
    edit: (s) => {
      s.pinnedRoutes = { "174.143.119.91/32": "isp2" };
    },
    path: "pinnedRoutes",
    message: "must be a list, not a mapping",
  },
  {
    name: "host missing",
    edit: (s) => {
      delete s.host;
    },
    path: "host",
    message: "is required",
  },
  {
    name: "an uplink without a gateway",
    edit: (s) => {
      delete s.uplinks[0].gateway;
    },
    path: "uplinks[0].gateway",
    message: "is required",
  },
  { name: "the whole site as a list", edit: () => [], path: "(site)", message: "must be a mapping, not a list" },
  {
    name: "protocol 4 (the kernel's)",
    edit: (s) => {
      s.routing = { protocol: 4 };
    },
    path: "routing.protocol",
    message: "must be between 5 and 255 (0-4 are the kernel's own)",
  },
  {
    name: "protocol 256",
    edit: (s) => {
      s.routing = { protocol: 256 };
    },
    path: "routing.protocol",
    message: "must be between 5 and 255",
  },
  {
    name: "hash policy 2",
    edit: (s) => {
      s.routing = { hashPolicy: 2 };
    },
    path: "routing.hashPolicy",
    message: "must be 0 (addresses) or 1 (addresses and ports)",
  },
  {
    name: "main priority 32766 (the kernel's main rule)",
    edit: (s) => {
      s.routing = { mainPriority: 32766 };
    },
    path: "routing.mainPriority",
    message: "32766 and 32767 belong to the kernel's own rules",
    others: true,
  },
  {
    name: "the multipath rule before main",
    edit: (s) => {
      s.routing = { multipathPriority: 29999 };
    },
    path: "routing.multipathPriority",
    message: "must be above routing.mainPriority (30000)",
  },
  {
    name: "rule priority 0",
    edit: (s) => {
      s.uplinks[0].priority = 0;
    },
    path: "uplinks[0].priority",
    message: "0 and 32766-32767 belong to the kernel's own rules",
  },
  // ---- connection marks ----
  {
    name: "two uplinks with one mark",
    edit: (s) => {
      s.uplinks[0].mark = 0x200;
    },
    path: "uplinks[1]",
    message: "mark 0x200 is already used by uplinks[0].mark",
  },
  {
    name: "a mark outside the mask",
    edit: (s) => {
      s.uplinks[0].mark = 0x10000;
    },
    path: "uplinks[0].mark",
    message: "0x10000 is outside routing.markMask 0xff00",
  },
  {
    name: "mark 0",
    edit: (s) => {
      s.uplinks[0].mark = 0;
    },
    path: "uplinks[0].mark",
    message: "must not be 0: 0 is the mark of a connection that has none",
  },
  {
    name: "a mask too narrow for the default marks",
    edit: (s) => {
      s.routing = { markMask: 0x100 };
    },
    path: "uplinks[1]",
    message: "its default mark 0x200 (2 × 0x100) does not fit in routing.markMask 0x100; set uplinks[1].mark or widen the mask",
  },
  {
    name: "mask 0",
    edit: (s) => {
      s.routing = { markMask: 0 };
    },
    path: "routing.markMask",
    message: "must not be 0",
  },
  {
    name: "no room for the mark rules between main and the multipath default",
    edit: (s) => {
      s.routing = { multipathPriority: 30002 };
    },
    path: "routing.multipathPriority",
    message: "must be above the connection-mark rules (30001..30002",
    // uplinks[1]'s mark rule also sits at 30002, and says so.
    others: true,
  },
  {
    name: "mark rules before main",
    edit: (s) => {
      s.routing = { markPriorityBase: 20000 };
    },
    path: "routing.markPriorityBase",
    message: "must be at least routing.mainPriority (30000)",
  },
  // ---- port forwards ----
  {
    name: "a port forward to a host outside the LAN",
    edit: (s) => {
      s.portForwards = [{ uplink: "isp2", protocol: "tcp", port: 80, to: "192.168.9.20:80" }];
    },
    path: "portForwards[0].to",
    message: "192.168.9.20 is outside the LAN 192.168.3.0/24",
  },
  {
    name: "a port forward to the gateway itself",
    edit: (s) => {
      s.portForwards = [{ uplink: "isp2", protocol: "tcp", port: 80, to: "192.168.3.100" }];
    },
    path: "portForwards[0].to",
    message: "is the gateway's own LAN address",
  },
  {
    name: "the same port forwarded twice on one uplink",
    edit: (s) => {
      s.portForwards = [
        { uplink: "isp2", protocol: "tcp", port: 80, to: "192.168.3.20:80" },
        { uplink: "isp1", protocol: "tcp", port: 80, to: "192.168.3.21:80" },
        { uplink: "isp2", protocol: "tcp", port: 80, to: "192.168.3.22:8080" },
      ];
    },
    path: "portForwards[2]",
    message: "tcp port 80 on isp2 is already forwarded by portForwards[0]",
  },
  {
    name: "port 0",
    edit: (s) => {
      s.portForwards = [{ uplink: "isp2", protocol: "tcp", port: 0, to: "192.168.3.20" }];
    },
    path: "portForwards[0].port",
    message: "must be a port, 1 to 65535",
  },
  {
    name: "port 65536 in the target",
    edit: (s) => {
      s.portForwards = [{ uplink: "isp2", protocol: "tcp", port: 80, to: "192.168.3.20:65536" }];
    },
    path: "portForwards[0].to",
    message: "must be a LAN address with an optional port, like 192.168.3.20:80",
  },
  {
    name: "a protocol that is not tcp or udp",
    edit: (s) => {
      s.portForwards = [{ uplink: "isp2", protocol: "sctp", port: 80, to: "192.168.3.20" }];
    },
    path: "portForwards[0].protocol",
    message: 'must be one of "tcp", "udp"',
  },
  {
    name: "a port forward on an unknown uplink",
    edit: (s) => {
      s.portForwards = [{ uplink: "isp3", protocol: "tcp", port: 80, to: "192.168.3.20" }];
    },
    path: "portForwards[0].uplink",
    message: 'names no uplink: "isp3" (uplinks are "isp1", "isp2")',
  },
];

describe("invalid sites: each problem at its exact path", () => {
  test(`the table holds at least 40 cases (${INVALID.length})`, () => assert.ok(INVALID.length >= 40));
  for (const c of INVALID) {
    test(`${c.name} -> ${c.path}`, () => {
      const problems = problemsOf(editedSite(c.stack ?? "home", c.edit));
      assertProblem(problems, c.path, c.message);
      if (!c.others) {
        const elsewhere = problems.filter((p) => !p.startsWith(`${c.path}: `));
        assert.deepEqual(elsewhere, [], "no other field should be blamed");
      }
    });
  }
});

describe("several problems at once", () => {
  test("every problem is reported in one run, field checks and cross-field checks together", () => {
    const problems = problemsOf(
      editedSite("home", (s) => {
        s.host.address = "bad host!";
        s.host.port = "22";
        s.lan.interface = "eth 0";
        s.uplinks[0].gateway = "10.0.0.1";
        s.uplinks[0].wieght = 2;
        s.uplinks[1].weight = 0;
        s.uplinks[1].interface = "eth1";
        s.pinnedRoutes[0].uplink = "isp9";
        s.pinnedRoutes.push({ destination: "8.8.8.8", uplink: "isp1" });
        s.nat.backend = "pf";
        s.bogus = 1;
      }),
    );
    const expected: [string, string][] = [
      ["host.address", "must be an IPv4 address or a DNS name"],
      ["host.port", "must be a number"],
      ["lan.interface", "must be a Linux interface name"],
      ["uplinks[0].wieght", 'did you mean "weight"?'],
      ["uplinks[0].gateway", "10.0.0.1 is outside uplink isp1's subnet 192.168.1.0/24"],
      ["uplinks[1].weight", "must be between 1 and 256"],
      ["uplinks[1].interface", "interface eth1 is already used by uplinks[0].interface"],
      ["pinnedRoutes[0].uplink", 'names no uplink: "isp9"'],
      ["pinnedRoutes[1].destination", "has no prefix length"],
      ["nat.backend", "must be one of"],
      ["bogus", "unknown field"],
    ];
    for (const [path, message] of expected) assertProblem(problems, path, message);
    assert.equal(problems.length, expected.length, `exactly these problems, got:\n  ${problems.join("\n  ")}`);
  });

  test("each problem line is '<path>: <sentence>' and no line repeats", () => {
    const problems = problemsOf(
      editedSite("office", (s) => {
        for (const u of s.uplinks) {
          u.weight = 300;
          u.table = 254;
        }
      }),
    );
    for (const p of problems) assert.match(p, /^(\(site\)|[A-Za-z]+(\[\d+\])?(\.[A-Za-z]+(\[\d+\])?)*): \S/);
    assert.equal(new Set(problems).size, problems.length);
    for (const i of [0, 1, 2]) {
      assertProblem(problems, `uplinks[${i}].weight`, "must be between 1 and 256");
      assertProblem(problems, `uplinks[${i}].table`, 'reserved for the kernel\'s "main" table');
    }
  });
});

// ---- regressions: lib bugs found while writing these tests ----

describe("regressions of fixed lib bugs", () => {
  test("an empty `multiwan:site:` (null) is a problem, not a TypeError", () => {
    for (const raw of [null, undefined]) {
      const result = validateSite(raw);
      assert.equal(result.ok, false);
      assert.match((result as { problems: string[] }).problems.join("\n"), /^\(site\): /);
    }
  });

  test("a host that is not a mapping is one problem, not also 'host.hostKey: is required'", () => {
    for (const host of ["192.168.3.100", [], 5]) {
      const problems = problemsOf(
        editedSite("home", (s) => {
          s.host = host;
        }),
      );
      assert.deepEqual(
        problems.filter((p) => p.startsWith("host.hostKey")),
        [],
      );
    }
  });

  test("a dotted all-numeric host address must be a valid IPv4 address", () => {
    for (const address of ["192.168.1.256", "192.168.01.1", "300.1.1.1", "1.2.3"]) {
      assertProblem(
        problemsOf(
          editedSite("home", (s) => {
            s.host.address = address;
          }),
        ),
        "host.address",
        "must be an IPv4 address",
      );
    }
  });

  test("interface names the kernel refuses or that are /proc/sys/net/ipv4/conf entries", () => {
    for (const name of [".", "..", "all", "default"]) {
      assertProblem(
        problemsOf(
          editedSite("home", (s) => {
            s.uplinks[0].interface = name;
          }),
        ),
        "uplinks[0].interface",
        /./,
      );
    }
  });

  test("loopback, 'this network', multicast and reserved addresses are not interface addresses", () => {
    const cases: [string, string, string][] = [
      ["127.0.0.2/8", "127.0.0.1", "loopback: clashes with the tables' 127.0.0.0/8 dev lo route"],
      ["0.0.0.2/24", "0.0.0.1", "'this network'"],
      ["224.0.0.2/24", "224.0.0.1", "multicast"],
      ["240.0.0.2/24", "240.0.0.1", "reserved"],
    ];
    for (const [address, gateway] of cases) {
      assertProblem(
        problemsOf(
          editedSite("home", (s) => {
            s.uplinks[0].address = address;
            s.uplinks[0].gateway = gateway;
          }),
        ),
        "uplinks[0].address",
        /./,
      );
    }
    assertProblem(
      problemsOf(
        editedSite("home", (s) => {
          s.lan.address = "127.0.0.1/8";
        }),
      ),
      "lan.address",
      /./,
    );
  });

  test("/0 as an interface address is refused at that field, not as an overlap of every other subnet", () => {
    const problems = problemsOf(
      editedSite("home", (s) => {
        s.lan.address = "192.168.3.100/0";
      }),
    );
    assertProblem(problems, "lan.address", /./);
  });

  test("'did you mean' suggests a field of the same mapping, never the unknown key itself", () => {
    const top = problemsOf(
      editedSite("home", (s) => {
        s.uplink = s.uplinks;
        delete s.uplinks;
      }),
    );
    assertProblem(top, "uplink", 'unknown field (did you mean "uplinks"?)');
    const host = problemsOf(
      editedSite("home", (s) => {
        s.host.gateway = "192.168.3.1";
      }),
    );
    assert.deepEqual(
      host.filter((p) => p.includes("did you mean")),
      [],
      `host has no field like "gateway": ${host}`,
    );
  });

  test("non-integers get the schema's own sentence 'must be a whole number'", () => {
    assertProblem(
      problemsOf(
        editedSite("home", (s) => {
          s.uplinks[0].weight = 1.5;
        }),
      ),
      "uplinks[0].weight",
      "must be a whole number",
    );
    assertProblem(
      problemsOf(
        editedSite("home", (s) => {
          s.uplinks[0].table = 101.5;
        }),
      ),
      "uplinks[0].table",
      "must be a whole number",
    );
  });
});
