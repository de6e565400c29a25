// The read-only check that runs once per host before the first change of a
// run: if any interface is missing or lacks its address, a tool is missing,
// or an object the site would own holds what is not ours (lib/ownership.ts),
// nothing is applied. It reports every problem, one per line, then prints
// the facts of those objects, which the provider reads for clashes.
import { z } from "zod";
import { interfaceAddress, interfaceName, natBackend } from "../kinds/fields";
import { formatOwned, ownedField, ownershipFacts } from "../ownership";
import { LEASE, isLease } from "./lease";
import { script, sh } from "./shell";

const preflightInterface = z.strictObject({ name: interfaceName, address: z.union([interfaceAddress, z.literal(LEASE)]) });
/**
 * "eth1 192.168.1.1/24" (or "eth2 dhcp"): an interface as the gateway's
 * provider carries it, one line of a preview each (GatewayHost shows the same
 * interfaces in full). Resources written before the explicit provider carry
 * the { name, address } form, which is still read.
 */
const interfaceLine = z
  .string()
  .transform((line) => {
    const at = line.indexOf(" ");
    return at < 0 ? { name: line, address: "" } : { name: line.slice(0, at), address: line.slice(at + 1) };
  })
  .pipe(preflightInterface);

export const preflightSchema = z.strictObject({
  /** address "dhcp": the interface must exist; its lease may come later (the scripts read it when they run). */
  interfaces: z.array(z.union([interfaceLine, preflightInterface])).min(1),
  natBackend,
  /** The site has a healthCheck: the monitor needs iputils ping (busybox's has no -O) and mkfifo. */
  healthCheck: z.boolean().default(false),
  /** Every route table, rule priority, nft table and iptables chain the site would own, with the field that moves it. */
  owned: ownedField.default([]),
});
/** Checked read-only before the first change of a run. */
export type Preflight = z.infer<typeof preflightSchema>;

/** The preflight as the gateway's provider is configured with it: each interface one "name address" line, the owned objects one line. */
export function preflightConfig(p: Preflight): z.input<typeof preflightSchema> {
  return { ...p, interfaces: p.interfaces.map((i) => `${i.name} ${i.address}`), owned: formatOwned(p.owned) };
}

export function renderPreflight(p: Preflight): string {
  const tool = p.natBackend === "nftables" ? "nft" : "iptables-restore";
  return script("preflight (read-only)", [
    `mw_problems=0`,
    `problem() { printf '%s\\n' "$*"; mw_problems=$((mw_problems + 1)); }`,
    `command -v ip >/dev/null || problem "ip (iproute2) is not installed"`,
    `command -v ${tool} >/dev/null || problem "${tool} is not installed (needed for nat.backend ${p.natBackend})"`,
    `command -v conntrack >/dev/null || problem "conntrack is not installed (Debian/Ubuntu: apt-get install conntrack); multiwan needs it to drop the connections of an uplink that leaves the site"`,
    ...(p.healthCheck
      ? [
          `if ! command -v ping >/dev/null; then problem "ping is not installed (Debian/Ubuntu: apt-get install iputils-ping); the health monitor needs it"; ` +
            `elif ! ping -V 2>&1 | grep -q iputils; then problem "ping is not iputils ping (Debian/Ubuntu: apt-get install iputils-ping); the health monitor needs its -O option"; fi`,
          `command -v mkfifo >/dev/null || problem "mkfifo is not installed (Debian/Ubuntu: coreutils); the health monitor needs it"`,
        ]
      : []),
    ...p.interfaces.map((i) =>
      isLease(i.address)
        ? `[ -e /sys/class/net/${sh(i.name)} ] || problem "interface ${i.name} does not exist (it is a DHCP uplink: it needs the interface, not yet a lease)"`
        : `if [ ! -e /sys/class/net/${sh(i.name)} ]; then problem "interface ${i.name} does not exist"; ` +
          `elif ! ip -o -4 addr show dev ${sh(i.name)} | tr -s ' ' | grep -q " inet ${i.address} "; then ` +
          `problem "interface ${i.name} does not carry ${i.address} (it has: $(ip -o -4 addr show dev ${sh(i.name)} | awk '{print $4}' | tr '\\n' ' '))"; fi`,
    ),
    ...(p.owned?.length
      ? [`# What the site would own, as facts (after every problem line): lib/ownership.ts finds the clashes.`, ...ownershipFacts(p.owned)]
      : []),
    `exit $((mw_problems > 0))`,
  ]);
}
