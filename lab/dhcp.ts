// The lab's DHCP modem (issue 20): dnsmasq on modem 2's LAN side hands the
// gateway's eth2 its address and router, and busybox udhcpc on the gateway
// holds the lease, with a client script of the usual shape (address and a
// default route in main, metric 100). Both run only inside the lab's
// namespaces (ip netns exec) and are found and killed by the lab's teardown
// like every other process there; nothing binds or touches the host's network.
import fs from "node:fs";
import path from "node:path";
import { run } from "../support/proc";
import { spawnDaemon } from "./processes";

export interface DhcpLab {
  readonly name: string;
  readonly dir: string;
  readonly ns: Readonly<Record<"gw" | "m2", string>>;
}

/** What modem 2's DHCP server hands out: one address, one router (so a change is a change). */
export interface LeaseOffer {
  address: string;
  router: string;
  /** Seconds; dnsmasq's minimum is 120. */
  leaseSeconds?: number;
}

/** udhcpc's client script: what a distribution's default.script does, minus DNS. POSIX sh. */
const CLIENT_SCRIPT = `#!/bin/sh
# The lab's udhcpc script: $1 is deconfig, bound, renew or leasefail.
log() { echo "udhcpc-script: $*" >&2; }
case "$1" in
  deconfig)
    log "deconfig $interface"
    ip -4 addr flush dev "$interface" scope global
    ;;
  bound | renew)
    have=$(ip -o -4 addr show dev "$interface" scope global | awk '{ print $4 }')
    if [ "$have" != "$ip/$mask" ]; then
      ip -4 addr flush dev "$interface" scope global
      ip addr add "$ip/$mask" dev "$interface"
    fi
    for r in $router; do ip route replace default via "$r" dev "$interface" metric 100; break; done
    log "$1 $interface $ip/$mask router $router lease $lease"
    ;;
esac
exit 0
`;

export function startDhcpServer(lab: DhcpLab, offer: LeaseOffer, label = "m2-dnsmasq"): number {
  const leases = path.join(lab.dir, `${label}-${Date.now()}.leases`);
  return spawnDaemon(
    lab.dir,
    label,
    [
      "ip",
      "netns",
      "exec",
      lab.ns.m2,
      "dnsmasq",
      "--keep-in-foreground",
      "--log-dhcp",
      "--log-facility=-",
      "--conf-file=/dev/null",
      "--port=0",
      "--no-resolv",
      "--no-hosts",
      "--interface=lan",
      "--bind-interfaces",
      "--dhcp-authoritative",
      `--dhcp-leasefile=${leases}`,
      `--pid-file=${path.join(lab.dir, `${label}.dnsmasq.pid`)}`,
      `--dhcp-range=${offer.address},${offer.address},255.255.255.0,${offer.leaseSeconds ?? 120}`,
      `--dhcp-option=option:router,${offer.router}`,
      "--lab",
    ].filter((a) => a !== "--lab"),
  );
}

/** udhcpc on the gateway's eth2, in the foreground (its pid is the daemon's), retrying forever. */
export function startDhcpClient(lab: DhcpLab, label = "gw-udhcpc"): number {
  const script = path.join(lab.dir, "udhcpc.script");
  fs.writeFileSync(script, CLIENT_SCRIPT, { mode: 0o755 });
  return spawnDaemon(lab.dir, label, [
    "ip",
    "netns",
    "exec",
    lab.ns.gw,
    "busybox",
    "udhcpc",
    "-f",
    "-i",
    "eth2",
    "-s",
    script,
    "-t",
    "0",
    "-T",
    "1",
    "-A",
    "1",
  ]);
}

/** The address the gateway's eth2 carries now ("" without one). */
export async function gatewayLease(lab: DhcpLab): Promise<string> {
  const r = await run(["ip", "-n", lab.ns.gw, "-o", "-4", "addr", "show", "dev", "eth2", "scope", "global"]);
  return r.stdout.split(/\s+/)[3] ?? "";
}
