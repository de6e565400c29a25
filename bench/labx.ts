// What the bench needs of the lab beyond lab/lab.ts, done at run time inside
// the lab's own namespaces only (the host namespace is never touched, and
// everything here disappears with the namespaces on lab.down()):
//
// - more uplinks: lab/lab.ts gives the gateway eth1/eth2 (isp1/isp2). For
//   uplink k >= 3 we add a veth pair gw eth<k> 192.168.<k+1>.1/24 <-> m1
//   lan<k> 192.168.<k+1>.254/24, and m1 source-NATs what arrives on lan<k> to
//   its own secondary WAN address 198.18.1.<10+k> (an nft table of ours that
//   runs before the modem's masquerade), so the internet's whoami server can
//   tell which uplink a flow took. Each of these links acts as its own modem:
//   m1 drops what arrives on one of them (or on isp1's lan) with another's
//   source, as separate modems would (see extendLab). Proposed for lab/lab.ts as
//   `labUp({uplinks: n})` (see bench/README.md).
// - plain single-path forwarding on the gateway (the data-plane reference):
//   ip_forward, one default route via isp1 in main, masquerade out eth1.
// - an iperf3 server in the internet namespace, reached through a DNAT to
//   itself that takes precedence over the internet's "every TCP port to
//   whoami" redirect.
import type { Lab } from "../lab/lab";
import { SEEN_VIA, TOPOLOGY } from "../lab/lab";
import { check, run, start } from "../support/proc";

export interface UplinkSpec {
  name: string;
  interface: string;
  address: string;
  gateway: string;
  weight: number;
}

/** The uplinks the (possibly extended) lab offers, in order: isp1, isp2, isp3, ... */
export function labUplinks(count: number): UplinkSpec[] {
  const out: UplinkSpec[] = TOPOLOGY.gw.uplinks.map((u) => ({
    name: u.name,
    interface: u.interface,
    address: u.address,
    gateway: u.gateway,
    weight: u.weight,
  }));
  for (let k = 3; k <= count; k++) {
    out.push({ name: `isp${k}`, interface: `eth${k}`, address: `192.168.${k + 1}.1/24`, gateway: `192.168.${k + 1}.254`, weight: 1 });
  }
  return out.slice(0, count);
}

/** Source address the internet sees for a flow that left through uplink `name`. */
export function seenVia(name: string): string {
  if (name === "isp1") return SEEN_VIA.isp1;
  if (name === "isp2") return SEEN_VIA.isp2;
  const k = Number(name.replace(/^isp/, ""));
  return `198.18.1.${10 + k}`;
}

const EXTRA_NFT_TABLE = "bench-uplinks";

/** Gives the lab's gateway `count` uplinks in all (no-op for count <= 2 or when already there). */
export async function extendLab(lab: Lab, count: number): Promise<void> {
  if (count > 8) throw new Error("the bench's lab extension provides at most 8 uplinks (192.168.4-9.0/24)");
  const gw = lab.ns.gw;
  const m1 = lab.ns.m1;
  const snat: string[] = [];
  for (let k = 3; k <= count; k++) {
    const exists = (await run(["ip", "-n", gw, "link", "show", "dev", `eth${k}`])).code === 0;
    snat.push(`\t\tiifname "lan${k}" oifname "wan" snat to ${seenVia(`isp${k}`)}`);
    if (exists) continue;
    const batchGw = [
      `link add eth${k} type veth peer name lan${k} netns ${m1}`,
      `addr add 192.168.${k + 1}.1/24 dev eth${k}`,
      `link set eth${k} up`,
    ];
    check(await run(["ip", "-n", gw, "-batch", "-"], { input: `${batchGw.join("\n")}\n` }), `add eth${k} to ${gw}`);
    const batchM1 = [`addr add 192.168.${k + 1}.254/24 dev lan${k}`, `link set lan${k} up`, `addr add ${seenVia(`isp${k}`)}/24 dev wan`];
    check(await run(["ip", "-n", m1, "-batch", "-"], { input: `${batchM1.join("\n")}\n` }), `configure lan${k} in ${m1}`);
  }
  if (snat.length) {
    // Each extension uplink is its own modem: a real modem has no state for a
    // connection that started through another one, so a packet that arrives
    // with another uplink's (masqueraded) source dies there. m1 would
    // otherwise carry it on with the NAT binding it made for the other
    // interface, and a connection moved between isp1 and isp<k> would
    // survive in the lab as it would not on real modems.
    const own = (k: number) => (k === 1 ? "192.168.1.0/24" : `192.168.${k + 1}.0/24`);
    const ifOf = (k: number) => (k === 1 ? "lan" : `lan${k}`);
    const ks = [1, ...Array.from({ length: count - 2 }, (_, i) => i + 3)];
    const nft = [
      `table ip ${EXTRA_NFT_TABLE}`,
      `delete table ip ${EXTRA_NFT_TABLE}`,
      `table ip ${EXTRA_NFT_TABLE} {`,
      `\tchain postrouting {`,
      `\t\ttype nat hook postrouting priority srcnat - 10; policy accept;`,
      ...snat,
      `\t}`,
      `\tchain forward {`,
      `\t\ttype filter hook forward priority filter - 10; policy accept;`,
      ...ks.map((k) => `\t\tiifname "${ifOf(k)}" ip saddr != ${own(k)} drop`),
      `\t}`,
      `}`,
    ].join("\n");
    check(await run(["ip", "netns", "exec", m1, "nft", "-f", "-"], { input: `${nft}\n` }), `nft in ${m1}`);
  }
}

// ------------------------------------------------------------------ plain forwarding

const PLAIN_NFT = "bench-plain";

/**
 * Plain single-path NAT forwarding on the gateway (what a one-uplink router
 * does): ip_forward=1, default via isp1 in main, masquerade out eth1.
 * Returns the function that takes it all away again (ip_forward restored).
 */
export async function plainForwarding(lab: Lab): Promise<() => Promise<void>> {
  const u = TOPOLOGY.gw.uplinks[0];
  const before = (await lab.exec("gw", "cat /proc/sys/net/ipv4/ip_forward", { check: true })).stdout.trim();
  const script = [
    "set -e",
    "echo 1 > /proc/sys/net/ipv4/ip_forward",
    `ip route add default via ${u.gateway} dev ${u.interface}`,
    `nft -f - <<'EOF'`,
    `table ip ${PLAIN_NFT} {`,
    `\tchain postrouting {`,
    `\t\ttype nat hook postrouting priority srcnat; policy accept;`,
    `\t\toifname "${u.interface}" masquerade`,
    `\t}`,
    `}`,
    `EOF`,
  ].join("\n");
  await lab.exec("gw", script, { check: true });
  return async () => {
    await lab.exec(
      "gw",
      [
        `nft delete table ip ${PLAIN_NFT} 2>/dev/null || true`,
        `ip route del default via ${u.gateway} dev ${u.interface} 2>/dev/null || true`,
        `echo ${before} > /proc/sys/net/ipv4/ip_forward`,
      ].join("\n"),
      { check: true },
    );
  };
}

// ------------------------------------------------------------------ iperf3

const IPERF_PORT = 5201;
const IPERF_TARGET = TOPOLOGY.servers[0];
const IPERF_NFT = "bench-iperf";

export interface IperfServer {
  stop(): Promise<void>;
}

/** iperf3 -s in the internet namespace, reachable on IPERF_TARGET:IPERF_PORT. */
export async function startIperfServer(lab: Lab): Promise<IperfServer> {
  const net = lab.ns.net;
  // A NAT binding made in an earlier chain skips the later ones: this keeps
  // port 5201 away from the internet's redirect-everything-to-whoami chain.
  const nft = [
    `table ip ${IPERF_NFT} {`,
    `\tchain prerouting {`,
    `\t\ttype nat hook prerouting priority dstnat - 10; policy accept;`,
    `\t\ttcp dport ${IPERF_PORT} dnat to ${IPERF_TARGET}`,
    `\t}`,
    `}`,
  ].join("\n");
  check(await run(["ip", "netns", "exec", net, "nft", "-f", "-"], { input: `${nft}\n` }), `nft in ${net}`);
  const server = start(["ip", "netns", "exec", net, "iperf3", "-s", "-B", IPERF_TARGET, "-p", String(IPERF_PORT)]);
  for (let i = 0; i < 100; i++) {
    const r = await run(["ip", "netns", "exec", net, "ss", "-Hltn", `sport = :${IPERF_PORT}`]);
    if (r.stdout.trim()) break;
    if (server.child.exitCode !== null) throw new Error(`iperf3 -s exited: ${server.output()}`);
    await new Promise((res) => setTimeout(res, 50));
  }
  return {
    stop: async () => {
      await server.stop();
      await run(["ip", "netns", "exec", net, "nft", "delete", "table", "ip", IPERF_NFT]);
    },
  };
}

interface IperfResult {
  /** Receiver-side goodput, bits per second. */
  bps: number;
  retransmits: number;
}

/** One iperf3 client run from the LAN client, LAN -> internet through the gateway. */
export async function iperfOnce(lab: Lab, seconds: number): Promise<IperfResult> {
  const r = check(
    await run(
      [
        "ip",
        "netns",
        "exec",
        lab.ns.lan,
        "iperf3",
        "-c",
        IPERF_TARGET,
        "-p",
        String(IPERF_PORT),
        "-t",
        String(seconds),
        "-J",
        "--connect-timeout",
        "3000",
      ],
      {
        timeoutMs: (seconds + 20) * 1000,
      },
    ),
    "iperf3 client",
  );
  const j = JSON.parse(r.stdout) as {
    end?: { sum_received?: { bits_per_second: number }; sum_sent?: { retransmits?: number } };
    error?: string;
  };
  if (j.error || !j.end?.sum_received) throw new Error(`iperf3: ${j.error ?? "no result"}`);
  return { bps: j.end.sum_received.bits_per_second, retransmits: j.end.sum_sent?.retransmits ?? 0 };
}
