// RoutingTable: every route of one uplink's table (the LARTC "T1"/"T2").
import { z } from "zod";
import { leaseOf, leaseStatus, unlease } from "../facts/lease";
import { routesOf } from "../facts/routes";
import { LEASE, type LeaseRef, isLease, leaseRefs, readLeases, refOf } from "../render/lease";
import { sh } from "../render/shell";
import type { Kind } from "./kind";
import { interfaceAddress, interfaceName, ipv4, protocolNumber, routeDestination, tableId, uplinkName } from "./fields";

/** One route as `ip route` takes it (destination in `ip route`'s own spelling); "dhcp" stands for a value of dev's current lease. */
export interface Route {
  destination: string;
  via?: string;
  dev: string;
  src?: string;
}

const ROUTE_SPEC = /^(\S+)(?: via (\S+))? dev (\S+)(?: src (\S+))?$/;
const valid = (schema: { safeParse(v: unknown): { success: boolean } }, v: string) => isLease(v) || schema.safeParse(v).success;

/** "192.168.1.0/24 dev eth1 src 192.168.1.1" -> its parts; undefined unless every part is valid. */
export function parseRoute(spec: string): Route | undefined {
  const m = ROUTE_SPEC.exec(spec);
  if (!m) return undefined;
  const [, destination, via, dev, src] = m;
  const ok =
    valid(routeDestination, destination) &&
    interfaceName.safeParse(dev).success &&
    (via === undefined || valid(ipv4, via)) &&
    (src === undefined || valid(ipv4, src));
  return ok ? { destination, dev, ...(via ? { via } : {}), ...(src ? { src } : {}) } : undefined;
}

/** The route as one line, the way `ip route` takes it: what the entry holds, so a review reads it as one line. */
export function formatRoute(r: Route): string {
  return [r.destination, ...(r.via ? ["via", r.via] : []), "dev", r.dev, ...(r.src ? ["src", r.src] : [])].join(" ");
}

/** "dhcp" stands for the value of dev's current lease (its subnet, gateway or address). */
const lease = z.literal(LEASE);
const route = z.string().refine((s) => parseRoute(s) !== undefined, {
  error: "must be a route as ip takes it: <destination> [via <address>] dev <interface> [src <address>]",
});

export const routingTableSchema = z.strictObject({
  uplink: uplinkName,
  table: tableId,
  interface: interfaceName,
  /** "dhcp": the uplink's address is its lease's (design §11). */
  address: z.union([interfaceAddress, lease]),
  gateway: z.union([ipv4, lease]),
  protocol: protocolNumber,
  /** Every route of the table, as ip takes it: the uplink's default, its subnet, and the gateway's other subnets. */
  routes: z.array(route).min(1),
});
export type RoutingTableEntry = z.infer<typeof routingTableSchema>;

/** The entry's routes, parsed (the schema has checked every one). */
const plannedRoutes = (e: RoutingTableEntry) => e.routes.map((r) => parseRoute(r)!);

/** A route as lib/facts/routes.ts spells what `ip -j` prints. */
export function routeLine(r: Route): string {
  if (r.via) return `${r.destination} via ${r.via} dev ${r.dev}`;
  return `${r.destination} dev ${r.dev} scope link${r.src ? ` src ${r.src}` : ""}`;
}

function routeCommand(r: Route, table: number, protocol: number): string {
  const parts = ["route replace", sh(r.destination)];
  if (r.via) parts.push("via", sh(r.via));
  parts.push("dev", sh(r.dev));
  if (r.src) parts.push("src", sh(r.src));
  parts.push("table", String(table), "proto", String(protocol));
  return parts.join(" ");
}

const leased = (r: Route) => isLease(r.destination) || isLease(r.via) || isLease(r.src);

/** A route's words with each "dhcp" replaced by the variable that holds the lease's value. */
function leaseCommand(r: Route, ref: LeaseRef, table: number, protocol: number): string {
  const parts = ["route replace", isLease(r.destination) ? ref.net : sh(r.destination)];
  if (r.via) parts.push("via", isLease(r.via) ? ref.gw : sh(r.via));
  parts.push("dev", sh(r.dev));
  if (r.src) parts.push("src", isLease(r.src) ? ref.addr : sh(r.src));
  parts.push("table", String(table), "proto", String(protocol));
  return parts.join(" ");
}

/** The shell test that a lease route can be written: every lease value it uses is known. */
function known(r: Route, ref: LeaseRef): string {
  const needs = [isLease(r.destination) && ref.net, isLease(r.via) && ref.gw, isLease(r.src) && ref.addr].filter(Boolean) as string[];
  return needs.map((v) => `[ -n "${v}" ]`).join(" && ");
}

/** apply for a table with lease routes: the routes that depend on a lease are written only while it is there. */
function applyLeased(e: RoutingTableEntry): string[] {
  const { table, protocol } = e;
  const devices = [...new Set(plannedRoutes(e).map((r) => r.dev))].filter((d) => d !== "lo");
  const refs = leaseRefs(
    plannedRoutes(e)
      .filter(leased)
      .map((r) => r.dev),
  );
  const own = refs.find((r) => r.dev === e.interface);
  const wanted = plannedRoutes(e)
    .map((r) => (isLease(r.destination) ? `"${refOf(refs, r.dev).net}"` : sh(r.destination)))
    .join("|");
  const batch = [
    `{`,
    ...plannedRoutes(e).map((r) => {
      if (!leased(r)) return `  echo ${sh(routeCommand(r, table, protocol))}`;
      const ref = refOf(refs, r.dev);
      return `  ! { ${known(r, ref)}; } || echo "${leaseCommand(r, ref, table, protocol)}"`;
    }),
    `} | ip_batch`,
  ];
  const converge = [
    `step "routes of table ${table} (${e.uplink}), with the current DHCP lease"`,
    ...batch,
    "",
    `step "remove routes of table ${table} that are no longer planned (a previous lease's among them)"`,
    `mw_routes ${table} ${protocol} | while read -r dst _; do`,
    `  case "$dst" in ${wanted}) ;; *) run ip route del "$dst" table ${table} proto ${protocol} ;; esac`,
    `done`,
  ];
  return [
    `step "check interfaces"`,
    ...devices.map((d) => `need_interface ${sh(d)}`),
    "",
    ...readLeases(refs),
    ...(own && isLease(e.address)
      ? [
          // No lease: the table would route through a gateway that is gone; it stays empty, the uplink out of service.
          `if [ -z "${own.addr}" ]${isLease(e.gateway) ? ` || [ -z "${own.gw}" ]` : ""}; then`,
          `  step "no DHCP lease on ${e.interface}: table ${table} (${e.uplink}) stays empty until there is one"`,
          `  [ -z "$(mw_routes ${table} ${protocol})" ] || run ip route flush table ${table} proto ${protocol}`,
          `else`,
          ...converge.map((l) => (l ? `  ${l}` : l)),
          `fi`,
        ]
      : converge),
  ];
}

/** read for a table with lease routes: the current leases too, to read their values back as "dhcp". */
export const leaseFacts = (devs: readonly string[]) => [...new Set(devs)].map((d) => `fact lease-${d} mw_lease ${sh(d)}`);

export const routingTable: Kind<RoutingTableEntry> = {
  schema: routingTableSchema,
  key: (e) => `table-${e.uplink}`,
  id: (e) => `table-${e.table}`,
  replaceOn: ["table", "interface"],
  bootOrder: 20,
  title: (e) => `RoutingTable ${e.uplink} (table ${e.table})`,
  owns: (e) => [{ object: "routes", table: e.table, protocol: e.protocol }],
  apply(e) {
    if (plannedRoutes(e).some(leased)) return applyLeased(e);
    const { table, protocol } = e;
    const devices = [...new Set(plannedRoutes(e).map((r) => r.dev))].filter((d) => d !== "lo");
    const wanted = plannedRoutes(e)
      .map((r) => sh(r.destination))
      .join("|");
    return [
      `step "check interfaces"`,
      ...devices.map((d) => `need_interface ${sh(d)}`),
      "",
      `step "routes of table ${table} (${e.uplink})"`,
      `ip_batch <<'EOF'`,
      ...plannedRoutes(e).map((r) => routeCommand(r, table, protocol)),
      `EOF`,
      "",
      `step "remove routes of table ${table} that are no longer planned"`,
      `mw_routes ${table} ${protocol} | while read -r dst _; do`,
      `  case "$dst" in ${wanted}) ;; *) run ip route del "$dst" table ${table} proto ${protocol} ;; esac`,
      `done`,
    ];
  },
  remove: (e) => [
    `step "remove our routes from table ${e.table}"`,
    `[ -z "$(mw_routes ${e.table} ${e.protocol})" ] || run ip route flush table ${e.table} proto ${e.protocol}`,
  ],
  read: (e) => [
    `fact routes ip -j -N route show table ${e.table} proto ${e.protocol}`,
    ...leaseFacts(
      plannedRoutes(e)
        .filter(leased)
        .map((r) => r.dev),
    ),
  ],
  expected: (e) => plannedRoutes(e).map((r) => `route ${routeLine(r)}`),
  // A lease's values read back as "dhcp"; routes a missing lease keeps out are not drift.
  parse: (facts, e) => {
    const devs = [
      ...new Set(
        plannedRoutes(e)
          .filter(leased)
          .map((r) => r.dev),
      ),
    ];
    const lines = unlease(
      routesOf(facts, "routes").lines.map((l) => `route ${l}`),
      devs.map((d) => leaseOf(facts, d)),
    );
    const absent = devs.filter((d) => leaseOf(facts, d).address === undefined);
    const own = absent.includes(e.interface) && isLease(e.address);
    const kept = plannedRoutes(e)
      .filter((r) => own || (leased(r) && absent.includes(r.dev)))
      .map((r) => `route ${routeLine(r)}`);
    return [...lines, ...kept];
  },
  health: (facts, e) => (isLease(e.address) ? [leaseStatus(e.uplink, leaseOf(facts, e.interface))] : []),
};
