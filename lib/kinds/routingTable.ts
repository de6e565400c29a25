// RoutingTable: every route of one uplink's table (the LARTC "T1"/"T2").
import { z } from "zod";
import { routesOf } from "../facts/routes";
import { sh } from "../render/shell";
import type { Kind } from "./kind";
import { interfaceAddress, interfaceName, ipv4, protocolNumber, routeDestination, tableId, uplinkName } from "./fields";

const route = z.strictObject({ destination: routeDestination, via: ipv4.optional(), dev: interfaceName, src: ipv4.optional() });

export const routingTableSchema = z.strictObject({
  uplink: uplinkName,
  table: tableId,
  interface: interfaceName,
  address: interfaceAddress,
  gateway: ipv4,
  protocol: protocolNumber,
  /** Every route of the table: the uplink's default, its subnet, and the gateway's other subnets. */
  routes: z.array(route).min(1),
});
/** One route as `ip route` takes it (destination in `ip route`'s own spelling). */
export type Route = z.infer<typeof route>;
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

export const routingTable: Kind<RoutingTableEntry> = {
  schema: routingTableSchema,
  key: (e) => `table-${e.uplink}`,
  id: (e) => `table-${e.table}`,
  replaceOn: ["table", "interface"],
  bootOrder: 20,
  title: (e) => `RoutingTable ${e.uplink} (table ${e.table})`,
  apply(e) {
    const { table, protocol } = e;
    const devices = [...new Set(e.routes.map((r) => r.dev))].filter((d) => d !== "lo");
    const wanted = e.routes.map((r) => sh(r.destination)).join("|");
    return [
      `step "check interfaces"`,
      ...devices.map((d) => `need_interface ${sh(d)}`),
      "",
      `step "routes of table ${table} (${e.uplink})"`,
      `ip_batch <<'EOF'`,
      ...e.routes.map((r) => routeCommand(r, table, protocol)),
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
  expected: (e) => e.routes.map((r) => `route ${routeLine(r)}`),
  parse: (facts) => routesOf(facts, "routes").lines.map((l) => `route ${l}`),
};
