// RoutingTable: every route of one uplink's table (the LARTC "T1"/"T2").
import type { Route, RoutingTableEntry } from "../plan";
import { Scripts, script, sh } from "./shell";

/** A route as `ip -N -o route show table T proto P` prints it. */
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

export function renderRoutingTable(e: RoutingTableEntry): Scripts {
  const { table, protocol } = e;
  const devices = [...new Set(e.routes.map((r) => r.dev))].filter((d) => d !== "lo");
  const wanted = e.routes.map((r) => sh(r.destination)).join("|");
  const apply = script(`RoutingTable ${e.uplink} (table ${table}): apply`, [
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
  ]);
  const remove = script(`RoutingTable ${e.uplink} (table ${table}): remove`, [
    `step "remove our routes from table ${table}"`,
    `[ -z "$(mw_routes ${table} ${protocol})" ] || run ip route flush table ${table} proto ${protocol}`,
  ]);
  const read = script(`RoutingTable ${e.uplink} (table ${table}): read`, [
    `mw_routes ${table} ${protocol} | sed 's/^/route /'`,
  ]);
  return { apply, remove, read };
}

export function expectedRoutingTable(e: RoutingTableEntry): string[] {
  return e.routes.map((r) => `route ${routeLine(r)}`);
}
