// MultipathDefaultRoute: the weighted default in its own table, reached
// after main has answered everything but its default (the wg-quick pattern),
// so the host's own default route stays untouched as a fallback.
import { z } from "zod";
import { downUplinks, healthLines } from "../facts/health";
import { routesOf } from "../facts/routes";
import { rulesOf } from "../facts/rules";
import { factLines } from "../facts/sections";
import { WEIGHTS_FILE } from "../render/paths";
import { leaseOf, unlease } from "../facts/lease";
import { LEASE, isLease, leaseRefs, readLeases, refOf } from "../render/lease";
import { sh } from "../render/shell";
import type { Kind } from "./kind";
import { interfaceName, ipv4, protocolNumber, rulePriority, tableId, uplinkName } from "./fields";

const nexthop = z.strictObject({
  uplink: uplinkName,
  /** "dhcp": the gateway the lease on dev brought (design §11). */
  via: z.union([ipv4, z.literal(LEASE)]),
  dev: interfaceName,
  weight: z.number().int().min(1).max(256),
  /** The uplink's address is a DHCP lease: without one it is out of the set, as when it is down. */
  dhcp: z.boolean().optional(),
});

export const multipathSchema = z.strictObject({
  table: tableId,
  protocol: protocolNumber,
  /** `lookup main suppress_prefixlength 0`, then `lookup <table>`. */
  mainPriority: rulePriority,
  multipathPriority: rulePriority,
  nexthops: z.array(nexthop).min(1),
});
export type Nexthop = z.infer<typeof nexthop>;
export type MultipathEntry = z.infer<typeof multipathSchema>;

const MAIN_TABLE = 254;
const mainSelector = `from all lookup ${MAIN_TABLE} suppress_prefixlength 0`;
const multipathSelector = (e: MultipathEntry) => `from all lookup ${e.table}`;
/** The default route over `hops` as `ip route` prints it (and lib/facts/routes.ts spells it): one nexthop prints without weight. */
export const routeOver = (hops: readonly Nexthop[]) =>
  hops.length === 1
    ? `default via ${hops[0].via} dev ${hops[0].dev}`
    : `default ${hops.map((n) => `nexthop via ${n.via} dev ${n.dev} weight ${n.weight}`).join(" ")}`;
const defaultRoute = (e: MultipathEntry) => routeOver(e.nexthops);
export const nexthopArgs = (hops: readonly Nexthop[]) =>
  hops.map((n) => `nexthop via ${sh(n.via)} dev ${sh(n.dev)} weight ${n.weight}`).join(" ");

/**
 * The nexthops that should be live: the desired ones without the uplinks the
 * health monitor found down; all of them when every one is down (mwan3's
 * last resort: a route that may work beats none).
 */
export function liveNexthops(e: MultipathEntry, down: ReadonlySet<string>): Nexthop[] {
  const healthy = e.nexthops.filter((n) => !down.has(n.uplink));
  return healthy.length > 0 ? healthy : e.nexthops;
}

/** WEIGHTS_FILE's content: "<uplink> <weight>" per line. */
const weightLines = (e: MultipathEntry) => [
  "# multiwan: the desired weights (written by pulumi up); the health monitor builds the route from them",
  ...e.nexthops.map((n) => `${n.uplink} ${n.weight}`),
];

const leasedHops = (e: MultipathEntry) => e.nexthops.filter((n) => n.dhcp);

/** apply's route step when some nexthops are DHCP uplinks: each is in only while it has a lease (and a gateway). */
function leasedRoute(e: MultipathEntry): string[] {
  const refs = leaseRefs(leasedHops(e).map((n) => n.dev));
  const hop = (n: Nexthop) => {
    if (!n.dhcp) return { cond: "", args: nexthopArgs([n]) };
    const ref = refOf(refs, n.dev);
    const via = isLease(n.via) ? ref.gw : sh(n.via);
    return { cond: `[ -n "${ref.addr}" ] && [ -n "${via}" ]`, args: `nexthop via ${via} dev ${sh(n.dev)} weight ${n.weight}` };
  };
  return [
    ...readLeases(refs),
    `step "weighted default route in table ${e.table}, without the uplinks that are down or have no DHCP lease"`,
    `mw_hops= mw_all=`,
    ...e.nexthops.map((n) => {
      const h = hop(n);
      const add = `mw_all="$mw_all ${h.args}"; mw_down ${sh(n.uplink)} || mw_hops="$mw_hops ${h.args}"`;
      return h.cond ? `if ${h.cond}; then ${add}; fi` : add;
    }),
    `# Every uplink with a lease down: keep them all (the monitor does the same).`,
    `[ -n "$mw_hops" ] || mw_hops=$mw_all`,
    `if [ -n "$mw_hops" ]; then`,
    `  mw_multipath ${e.table} ${e.protocol} "$mw_hops"`,
    `elif [ -n "$(mw_routes ${e.table} ${e.protocol} | grep '^default ' || true)" ]; then`,
    `  # No uplink has a lease: no default of ours; main's default answers.`,
    `  run ip route del default table ${e.table} proto ${e.protocol}`,
    `fi`,
  ];
}

export const multipath: Kind<MultipathEntry> = {
  schema: multipathSchema,
  key: () => "multipath",
  id: (e) => `multipath-${e.table}`,
  replaceOn: ["table", "mainPriority", "multipathPriority"],
  bootOrder: 40,
  title: (e) => `MultipathDefaultRoute (table ${e.table})`,
  owns: (e) => [
    { object: "routes", table: e.table, protocol: e.protocol },
    { object: "rule", priority: e.mainPriority, protocol: e.protocol },
    { object: "rule", priority: e.multipathPriority, protocol: e.protocol },
  ],
  apply: (e) => [
    `step "check interfaces"`,
    ...e.nexthops.map((n) => `need_interface ${sh(n.dev)}`),
    "",
    ...(leasedHops(e).length > 0
      ? leasedRoute(e)
      : [
          // An `up` during an outage must not put a dead nexthop back (design §9).
          `step "weighted default route in table ${e.table}, without the uplinks the health monitor found down"`,
          `mw_hops=`,
          ...e.nexthops.map((n) => `mw_down ${sh(n.uplink)} || mw_hops="$mw_hops ${nexthopArgs([n])}"`),
          `# Every uplink down: keep them all (the monitor does the same).`,
          `[ -n "$mw_hops" ] || mw_hops=${sh(nexthopArgs(e.nexthops))}`,
          `mw_multipath ${e.table} ${e.protocol} "$mw_hops"`,
        ]),
    "",
    `step "the desired weights, for the health monitor: ${WEIGHTS_FILE}"`,
    `write_file ${WEIGHTS_FILE} <<'EOF'`,
    ...weightLines(e),
    `EOF`,
    "",
    `step "rules that reach table ${e.table} after main"`,
    `mw_rule ${e.mainPriority} '${mainSelector}' ${e.protocol}`,
    `mw_rule ${e.multipathPriority} '${multipathSelector(e)}' ${e.protocol}`,
  ],
  remove: (e) => [
    `step "remove the rules to table ${e.table}"`,
    `mw_unrule ${e.multipathPriority} ${e.protocol}`,
    `mw_unrule ${e.mainPriority} ${e.protocol}`,
    "",
    `step "remove the weighted default route"`,
    `[ -z "$(mw_routes ${e.table} ${e.protocol} | grep '^default ' || true)" ] || run ip route del default table ${e.table} proto ${e.protocol}`,
    `[ ! -e ${WEIGHTS_FILE} ] || run rm -f ${WEIGHTS_FILE}`,
  ],
  read: (e) => [
    `fact routes ip -j -N route show table ${e.table} proto ${e.protocol}`,
    `fact main-rule ip -j -N rule show pref ${e.mainPriority}`,
    `fact multipath-rule ip -j -N rule show pref ${e.multipathPriority}`,
    `fact health mw_states ${e.nexthops.map((n) => sh(n.uplink)).join(" ")}`,
    `fact weights cat ${WEIGHTS_FILE}`,
    ...leasedHops(e).map((n) => `fact lease-${n.dev} mw_lease ${sh(n.dev)}`),
  ],
  expected: (e) => [
    `route ${defaultRoute(e)}`,
    `rule ${e.mainPriority}: ${mainSelector} proto ${e.protocol}`,
    `rule ${e.multipathPriority}: ${multipathSelector(e)} proto ${e.protocol}`,
    ...weightLines(e)
      .filter((l) => !l.startsWith("#"))
      .map((l) => `weight ${l}`),
  ],
  parse: (facts, e) => {
    // The table also holds the pinned routes; those are PinnedRoutes' own.
    const leases = leasedHops(e).map((n) => leaseOf(facts, n.dev));
    const defaults = unlease(
      routesOf(facts, "routes").lines.filter((l) => l.startsWith("default ") || l.startsWith("unreadable ")),
      leases,
    );
    // An outage is not drift: the route the monitor made reads as the desired one; health says why.
    // Nor is a DHCP uplink without a lease (or its gateway) missing from it.
    const unleased = leasedHops(e).filter((n) => {
      const l = leaseOf(facts, n.dev);
      return !l.address || (isLease(n.via) && !l.gateway);
    });
    const out = new Set([...downUplinks(facts), ...unleased.map((n) => n.uplink)]);
    const present = e.nexthops.filter((n) => !unleased.includes(n));
    const live = present.length === 0 ? undefined : routeOver(liveNexthops({ ...e, nexthops: present }, out));
    if (live === undefined && defaults.length === 0) defaults.push(defaultRoute(e));
    const routes = defaults.length === 1 && defaults[0] === live ? [defaultRoute(e)] : defaults;
    return [
      ...routes.map((l) => `route ${l}`),
      ...rulesOf(facts, ["main-rule", "multipath-rule"]).map((l) => `rule ${l}`),
      ...factLines(facts, "weights")
        .filter((l) => !l.startsWith("#"))
        .map((l) => `weight ${l}`),
    ];
  },
  health: (facts, e) => [
    ...healthLines(facts),
    ...leasedHops(e).map((n) => {
      const l = leaseOf(facts, n.dev);
      return l.address && (!isLease(n.via) || l.gateway)
        ? `${n.uplink} in the multipath set (DHCP lease ${l.prefix})`
        : `${n.uplink} out of the multipath set: no DHCP lease`;
    }),
  ],
};
