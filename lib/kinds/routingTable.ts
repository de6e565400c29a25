// RoutingTable: every route of one uplink's table (the LARTC "T1"/"T2").
import { z } from "zod";
import { routesOf } from "../facts/routes";
import { sh } from "../render/shell";
import type { Kind } from "./kind";
import { interfaceAddress, interfaceName, ipv4, protocolNumber, routeDestination, tableId, uplinkName } from "./fields";

/** One route as `ip route` takes it (destination in `ip route`'s own spelling). */
export interface Route {
  destination: string;
  via?: string;
  dev: string;
  src?: string;
}

const ROUTE_SPEC = /^(\S+)(?: via (\S+))? dev (\S+)(?: src (\S+))?$/;

/** "192.168.1.0/24 dev eth1 src 192.168.1.1" -> its parts; undefined unless every part is valid. */
export function parseRoute(spec: string): Route | undefined {
  const m = ROUTE_SPEC.exec(spec);
  if (!m) return undefined;
  const [, destination, via, dev, src] = m;
  const ok =
    routeDestination.safeParse(destination).success &&
    interfaceName.safeParse(dev).success &&
    (via === undefined || ipv4.safeParse(via).success) &&
    (src === undefined || ipv4.safeParse(src).success);
  return ok ? { destination, dev, ...(via ? { via } : {}), ...(src ? { src } : {}) } : undefined;
}

/** The route as one line, the way `ip route` takes it: what the entry holds, so a review reads it as one line. */
export function formatRoute(r: Route): string {
  return [r.destination, ...(r.via ? ["via", r.via] : []), "dev", r.dev, ...(r.src ? ["src", r.src] : [])].join(" ");
}

const route = z.string().refine((s) => parseRoute(s) !== undefined, {
  error: "must be a route as ip takes it: <destination> [via <address>] dev <interface> [src <address>]",
});

export const routingTableSchema = z.strictObject({
  uplink: uplinkName,
  table: tableId,
  interface: interfaceName,
  address: interfaceAddress,
  gateway: ipv4,
  protocol: protocolNumber,
  /** Every route of the table, as ip takes it: the uplink's default, its subnet, and the gateway's other subnets. */
  routes: z.array(route).min(1),
});
export type RoutingTableEntry = z.infer<typeof routingTableSchema>;

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

/** The entry's routes, parsed (the schema has checked every one). */
const plannedRoutes = (e: RoutingTableEntry) => e.routes.map((r) => parseRoute(r)!);

export const routingTable: Kind<RoutingTableEntry> = {
  schema: routingTableSchema,
  key: (e) => `table-${e.uplink}`,
  id: (e) => `table-${e.table}`,
  replaceOn: ["table", "interface"],
  bootOrder: 20,
  title: (e) => `RoutingTable ${e.uplink} (table ${e.table})`,
  apply(e) {
    const { table, protocol } = e;
    const routes = plannedRoutes(e);
    const devices = [...new Set(routes.map((r) => r.dev))].filter((d) => d !== "lo");
    const wanted = routes.map((r) => sh(r.destination)).join("|");
    return [
      `step "check interfaces"`,
      ...devices.map((d) => `need_interface ${sh(d)}`),
      "",
      `step "routes of table ${table} (${e.uplink})"`,
      `ip_batch <<'EOF'`,
      ...routes.map((r) => routeCommand(r, table, protocol)),
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
  read: (e) => [`fact routes ip -j -N route show table ${e.table} proto ${e.protocol}`],
  expected: (e) => plannedRoutes(e).map((r) => `route ${routeLine(r)}`),
  parse: (facts) => routesOf(facts, "routes").lines.map((l) => `route ${l}`),
};
