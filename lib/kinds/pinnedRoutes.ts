// PinnedRoutes: destinations that always leave through one uplink (e.g. a
// server that dislikes a changing source address). They live in the
// multipath table, so main still wins for the gateway's own subnets.
import { z } from "zod";
import { downUplinks, healthLines } from "../facts/health";
import { routesOf } from "../facts/routes";
import { leaseOf, unlease } from "../facts/lease";
import { LEASE, isLease, leaseRefs, readLeases } from "../render/lease";
import { sh } from "../render/shell";
import type { Kind } from "./kind";
import { interfaceName, ipv4, protocolNumber, routeDestination, tableId, uplinkName } from "./fields";

export const pinnedRoutesSchema = z.strictObject({
  uplink: uplinkName,
  table: tableId,
  protocol: protocolNumber,
  /** "dhcp": the gateway of dev's current lease (design §11). */
  via: z.union([ipv4, z.literal(LEASE)]),
  dev: interfaceName,
  /** The uplink's address is a DHCP lease: without one its destinations are unpinned (they use the multipath set). */
  dhcp: z.boolean().optional(),
  destinations: z.array(routeDestination.refine((d) => d !== "default", { error: "the default route cannot be pinned" })).min(1),
  /**
   * Those of `destinations` that use the multipath set while the health
   * monitor has this uplink down: their route is taken out, so the table's
   * default (the healthy uplinks) answers. The others keep failing.
   */
  fallback: z.array(routeDestination).default([]),
});
export type PinnedRoutesEntry = z.infer<typeof pinnedRoutesSchema>;

// A Set: a site may pin tens of thousands of destinations, most with fallback.
const steady = (e: PinnedRoutesEntry) => {
  const f = new Set(e.fallback);
  return e.destinations.filter((d) => !f.has(d));
};
const falling = (e: PinnedRoutesEntry) => {
  const f = new Set(e.fallback);
  return e.destinations.filter((d) => f.has(d));
};

/**
 * The routes of ours in the table through dev whose destination is (keep
 * "in") or is not (keep "out") in `list`, deleted in one ip -batch. The list
 * is a here-document on fd 3, one destination a line (grep -F -x compares
 * whole strings): as a command-line argument it would be one string, and
 * Linux refuses one over 128 kB (MAX_ARG_STRLEN, about 7,000 destinations).
 */
function unpin(e: PinnedRoutesEntry, keep: "in" | "out", list: string[], indent = ""): string[] {
  const where = `table ${e.table} proto ${e.protocol}`;
  const select = keep === "in" ? "grep -xF -f /dev/fd/3" : "grep -v '^default$' | grep -vxF -f /dev/fd/3";
  return [
    `${indent}mw_routes ${e.table} ${e.protocol} dev ${sh(e.dev)} | cut -d' ' -f1 | ${select} 3<<'EOF' |`,
    ...list,
    "EOF",
    `${indent}  sed 's/^/route del /; s/$/ ${where}/' | ip_batch`,
  ];
}

/** apply of a DHCP uplink's pins: through the lease's gateway while there is one; unpinned without. */
function applyLeased(e: PinnedRoutesEntry): string[] {
  const where = `table ${e.table} proto ${e.protocol}`;
  const [ref] = leaseRefs([e.dev]);
  const via = isLease(e.via) ? ref.gw : sh(e.via);
  return [
    `step "check interfaces"`,
    `need_interface ${sh(e.dev)}`,
    "",
    ...readLeases([ref]),
    `if [ -n "${ref.addr}" ] && [ -n "${via}" ]; then`,
    `  step "pin ${e.destinations.length} destination(s) to ${e.uplink} through the lease's gateway ${via}"`,
    `  {`,
    ...e.destinations.map((d) => `    echo "route replace ${sh(d)} via ${via} dev ${sh(e.dev)} ${where}"`),
    `  } | ip_batch`,
    `else`,
    `  step "no DHCP lease on ${e.dev}: ${e.uplink}'s destinations use the multipath set until there is one"`,
    ...unpin(e, "in", e.destinations, "  "),
    `fi`,
    "",
    `step "unpin destinations no longer pinned to ${e.uplink}"`,
    ...unpin(e, "out", e.destinations),
  ];
}

export const pinnedRoutes: Kind<PinnedRoutesEntry> = {
  schema: pinnedRoutesSchema,
  key: (e) => `pinned-${e.uplink}`,
  id: (e) => `pinned-${e.table}-${e.dev}`,
  replaceOn: ["table", "dev"],
  bootOrder: 50,
  title: (e) => `PinnedRoutes ${e.uplink} (${e.destinations.length} via ${e.via})`,
  owns: (e) => [{ object: "routes", table: e.table, protocol: e.protocol }],
  apply(e) {
    if (e.dhcp) return applyLeased(e);
    const where = `table ${e.table} proto ${e.protocol}`;
    return [
      `step "check interfaces"`,
      `need_interface ${sh(e.dev)}`,
      "",
      ...(steady(e).length === 0
        ? []
        : [
            `step "pin ${steady(e).length} destination(s) to ${e.uplink}"`,
            `ip_batch <<'EOF'`,
            ...steady(e).map((d) => `route replace ${sh(d)} via ${sh(e.via)} dev ${sh(e.dev)} ${where}`),
            `EOF`,
            "",
          ]),
      ...(falling(e).length === 0
        ? []
        : [
            // Like the monitor does: while the uplink is down these use the multipath default.
            `step "pin ${falling(e).length} destination(s) with fallback to ${e.uplink}, unless the health monitor has it down"`,
            `if mw_down ${sh(e.uplink)}; then`,
            ...unpin(e, "in", falling(e), "  "),
            `else`,
            `  ip_batch <<'EOF'`,
            ...falling(e).map((d) => `route replace ${sh(d)} via ${sh(e.via)} dev ${sh(e.dev)} ${where}`),
            `EOF`,
            `fi`,
            "",
          ]),
      `step "unpin destinations no longer pinned to ${e.uplink}"`,
      ...unpin(e, "out", e.destinations),
    ];
  },
  remove: (e) => [`step "unpin ${e.destinations.length} destination(s) from ${e.uplink}"`, ...unpin(e, "in", e.destinations)],
  read: (e) => [
    `fact routes ip -j -N route show table ${e.table} proto ${e.protocol} dev ${sh(e.dev)}`,
    `fact health mw_states ${sh(e.uplink)}`,
    ...(e.dhcp ? [`fact lease-${e.dev} mw_lease ${sh(e.dev)}`] : []),
  ],
  expected: (e) => e.destinations.map((d) => `route ${d} via ${e.via}`),
  // `dev` filters the listing, so ip leaves it out of each route; the default is MultipathDefaultRoute's.
  parse: (facts, e) => {
    const raw = routesOf(facts, "routes").lines.filter((l) => !l.startsWith("default "));
    // `dev` is left out of each route: unlease needs it back to know whose gateway it is.
    const lease = e.dhcp ? leaseOf(facts, e.dev) : undefined;
    const lines = (
      lease
        ? unlease(
            raw.map((l) => `${l} dev ${e.dev}`),
            [lease],
          ).map((l) => l.replace(` dev ${e.dev}`, ""))
        : raw
    ).map((l) => `route ${l}`);
    // No lease: the pins are out on purpose, not drift.
    if (lease && (!lease.address || (isLease(e.via) && !lease.gateway)))
      return [...lines, ...e.destinations.map((d) => `route ${d} via ${e.via}`)];
    // An outage is not drift: the fallback routes the monitor took out read as present.
    const outage = downUplinks(facts).has(e.uplink) ? falling(e).map((d) => `route ${d} via ${e.via}`) : [];
    return [...lines, ...outage];
  },
  health: (facts) => healthLines(facts),
};
