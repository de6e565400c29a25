// The lab's network (design §4, §6): which namespaces exist, their links and
// addresses, and what the modems and the internet do with packets. Only
// `ip`, `sysctl` and `nft` inside the lab's own namespaces; nothing here
// touches the host's network.
import { run } from "../support/proc";

export type Role = "gw" | "m1" | "m2" | "net" | "lan";
export const ROLES: readonly Role[] = ["gw", "m1", "m2", "net", "lan"];

/** Addresses of the lab; the gateway side mirrors the seed post (design §4). */
export const TOPOLOGY = {
  gw: {
    lan: { interface: "eth0", address: "192.168.3.100/24" },
    uplinks: [
      { name: "isp1", interface: "eth1", address: "192.168.1.1/24", gateway: "192.168.1.254", weight: 2 },
      { name: "isp2", interface: "eth2", address: "192.168.2.1/24", gateway: "192.168.2.254", weight: 1 },
    ],
  },
  /** modem N: its LAN side (the uplink's gateway) and its WAN address (what the internet sees). */
  modems: {
    1: { lan: "192.168.1.254/24", wan: "198.18.1.2/24", upstream: "198.18.1.1", forwardTo: "192.168.1.1" },
    2: { lan: "192.168.2.254/24", wan: "198.18.2.2/24", upstream: "198.18.2.1", forwardTo: "192.168.2.1" },
  },
  lanClient: { interface: "eth0", address: "192.168.3.10/24", gateway: "192.168.3.100" },
  /** 60 server addresses in the internet namespace. */
  servers: Array.from({ length: 60 }, (_, i) => `203.0.113.${10 + i}`),
  /** Stand-ins for pinned destinations (the post's 174.143.119.91). */
  pinned: ["198.51.100.91", "198.51.100.92"],
  whoamiPort: 7000,
  /** The internet's echo server for long-lived connections (exempt from the redirect to whoami). */
  echoPort: 7100,
  /** Modems forward <wan>:8080 to the gateway's uplink address :80. */
  modemForwardPort: 8080,
  gatewayServerPort: 80,
} as const;

/** What the internet's whoami server answers for a flow that left via uplink N. */
export const SEEN_VIA = { isp1: "198.18.1.2", isp2: "198.18.2.2" } as const;

/** A lab's names: `mw` + lowercase letters/digits, so every namespace it owns starts with `mw`. */
export const NAME_RE = /^mw[0-9a-z]{1,12}$/;

/** The namespace of each role: `<lab>-<role>`. */
export function namespacesOf(name: string): Record<Role, string> {
  return Object.fromEntries(ROLES.map((r) => [r, `${name}-${r}`])) as Record<Role, string>;
}

/** Which of `all` are namespaces of lab `name`. */
export function ownNamespaces(name: string, all: readonly string[]): string[] {
  return all.filter((n) => ROLES.some((r) => n === `${name}-${r}`));
}

export async function ipBatch(ns: string, lines: string[]): Promise<void> {
  await run(["ip", "-n", ns, "-batch", "-"], { input: `${lines.join("\n")}\n`, check: true });
}

export async function sysctls(ns: string, kv: Record<string, string>): Promise<void> {
  await run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", ...Object.entries(kv).map(([k, v]) => `${k}=${v}`)], { check: true });
}

/** Creates <lab>-gw with its three links (peers in lan, m1, m2) and configures both ends. */
export async function createGateway(n: Readonly<Record<Role, string>>): Promise<void> {
  const T = TOPOLOGY;
  await run(["ip", "netns", "add", n.gw], { check: true });
  await ipBatch(n.gw, [
    "link set lo up",
    `link add eth0 type veth peer name eth0 netns ${n.lan}`,
    `link add eth1 type veth peer name lan netns ${n.m1}`,
    `link add eth2 type veth peer name lan netns ${n.m2}`,
    `addr add ${T.gw.lan.address} dev eth0`,
    `addr add ${T.gw.uplinks[0].address} dev eth1`,
    `addr add ${T.gw.uplinks[1].address} dev eth2`,
    "link set eth0 up",
    "link set eth1 up",
    "link set eth2 up",
  ]);
  await ipBatch(n.lan, [
    `addr add ${T.lanClient.address} dev eth0`,
    "link set eth0 up",
    `route add default via ${T.lanClient.gateway} dev eth0`,
  ]);
  await ipBatch(n.m1, [`addr add ${T.modems[1].lan} dev lan`, "link set lan up"]);
  await ipBatch(n.m2, [`addr add ${T.modems[2].lan} dev lan`, "link set lan up"]);
}

/**
 * Creates the namespaces of a lab and everything on their network: links and
 * addresses, the modems' forwarding and NAT, the internet's server addresses
 * and its redirect of every TCP port to the whoami server.
 */
export async function createNetwork(namespaces: Readonly<Record<Role, string>>): Promise<void> {
  for (const r of ROLES.filter((r) => r !== "gw")) await run(["ip", "netns", "add", namespaces[r]], { check: true });
  await ipBatch(namespaces.m1, ["link set lo up", `link add wan type veth peer name m1 netns ${namespaces.net}`]);
  await ipBatch(namespaces.m2, ["link set lo up", `link add wan type veth peer name m2 netns ${namespaces.net}`]);
  await ipBatch(namespaces.lan, ["link set lo up"]);
  await createGateway(namespaces);
  for (const m of [1, 2] as const) {
    const M = TOPOLOGY.modems[m];
    await ipBatch(namespaces[`m${m}`], [`addr add ${M.wan} dev wan`, "link set wan up", `route add default via ${M.upstream} dev wan`]);
  }
  await ipBatch(namespaces.net, [
    "link set lo up",
    `addr add ${TOPOLOGY.modems[1].upstream}/24 dev m1`,
    `addr add ${TOPOLOGY.modems[2].upstream}/24 dev m2`,
    "link set m1 up",
    "link set m2 up",
    // on lo: this kernel has no dummy driver (no modules)
    ...[...TOPOLOGY.servers, ...TOPOLOGY.pinned].map((a) => `addr add ${a}/32 dev lo`),
  ]);
  for (const m of [1, 2] as const) {
    const ns = namespaces[`m${m}`];
    await sysctls(ns, {
      "net.ipv4.ip_forward": "1",
      "net.ipv4.conf.all.rp_filter": "0",
      "net.ipv4.conf.default.rp_filter": "0",
      "net.ipv4.conf.lan.rp_filter": "0",
      "net.ipv4.conf.wan.rp_filter": "0",
    });
    await run(["ip", "netns", "exec", ns, "nft", "-f", "-"], { input: modemNft(m), check: true });
  }
  await sysctls(namespaces.net, { "net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.default.rp_filter": "0" });
  await run(["ip", "netns", "exec", namespaces.net, "nft", "-f", "-"], { input: NET_NFT, check: true });
}

function modemNft(m: 1 | 2): string {
  const T = TOPOLOGY;
  return `table ip modem {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "wan" tcp dport ${T.modemForwardPort} dnat to ${T.modems[m].forwardTo}:${T.gatewayServerPort}
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" masquerade
  }
}
`;
}

const NET_NFT = `table ip internet {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    tcp dport != { ${TOPOLOGY.whoamiPort}, ${TOPOLOGY.echoPort} } redirect to :${TOPOLOGY.whoamiPort}
  }
}
`;
