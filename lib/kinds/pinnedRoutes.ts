// PinnedRoutes: destinations that always leave through one uplink (e.g. a
// server that dislikes a changing source address). They live in the
// multipath table, so main still wins for the gateway's own subnets.
import { z } from "zod";
import { routesOf } from "../facts/routes";
import { sh } from "../render/shell";
import type { Kind } from "./kind";
import { interfaceName, ipv4, protocolNumber, routeDestination, tableId, uplinkName } from "./fields";

export const pinnedRoutesSchema = z.strictObject({
  uplink: uplinkName,
  table: tableId,
  protocol: protocolNumber,
  via: ipv4,
  dev: interfaceName,
  destinations: z.array(routeDestination.refine((d) => d !== "default", { error: "the default route cannot be pinned" })).min(1),
});
export type PinnedRoutesEntry = z.infer<typeof pinnedRoutesSchema>;

export const pinnedRoutes: Kind<PinnedRoutesEntry> = {
  schema: pinnedRoutesSchema,
  key: (e) => `pinned-${e.uplink}`,
  id: (e) => `pinned-${e.table}-${e.dev}`,
  replaceOn: ["table", "dev"],
  bootOrder: 50,
  title: (e) => `PinnedRoutes ${e.uplink} (${e.destinations.length} via ${e.via})`,
  apply(e) {
    const where = `table ${e.table} proto ${e.protocol}`;
    return [
      `step "check interfaces"`,
      `need_interface ${sh(e.dev)}`,
      "",
      `step "pin ${e.destinations.length} destination(s) to ${e.uplink}"`,
      `ip_batch <<'EOF'`,
      ...e.destinations.map((d) => `route replace ${sh(d)} via ${sh(e.via)} dev ${sh(e.dev)} ${where}`),
      `EOF`,
      "",
      `step "unpin destinations no longer pinned to ${e.uplink}"`,
      // One destination per line: grep -F -x compares them as whole strings.
      `mw_routes ${e.table} ${e.protocol} dev ${sh(e.dev)} | cut -d' ' -f1 | grep -v '^default$' | grep -vxF '${e.destinations.join("\n")}' |`,
      `  sed 's/^/route del /; s/$/ ${where}/' | ip_batch`,
    ];
  },
  remove(e) {
    const where = `table ${e.table} proto ${e.protocol}`;
    return [
      `step "unpin ${e.destinations.length} destination(s) from ${e.uplink}"`,
      `mw_routes ${e.table} ${e.protocol} dev ${sh(e.dev)} | cut -d' ' -f1 | grep -xF '${e.destinations.join("\n")}' |`,
      `  sed 's/^/route del /; s/$/ ${where}/' | ip_batch`,
    ];
  },
  read: (e) => [`fact routes ip -j -N route show table ${e.table} proto ${e.protocol} dev ${sh(e.dev)}`],
  expected: (e) => e.destinations.map((d) => `route ${d} via ${e.via}`),
  // `dev` filters the listing, so ip leaves it out of each route; the default is MultipathDefaultRoute's.
  parse: (facts) =>
    routesOf(facts, "routes")
      .lines.filter((l) => !l.startsWith("default "))
      .map((l) => `route ${l}`),
};
