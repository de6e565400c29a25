// PinnedRoutes: destinations that always leave through one uplink (e.g. a
// server that dislikes a changing source address). They live in the
// multipath table, so main still wins for the gateway's own subnets.
import type { PinnedRoutesEntry } from "../plan";
import { Scripts, script, sh } from "./shell";

export function renderPinnedRoutes(e: PinnedRoutesEntry): Scripts {
  const title = `PinnedRoutes ${e.uplink} (${e.destinations.length} via ${e.via})`;
  const where = `table ${e.table} proto ${e.protocol}`;
  // One destination per line: grep -F -x compares them as whole strings.
  const list = e.destinations.join("\n");
  return {
    apply: script(`${title}: apply`, [
      `step "check interfaces"`,
      `need_interface ${sh(e.dev)}`,
      "",
      `step "pin ${e.destinations.length} destination(s) to ${e.uplink}"`,
      `ip_batch <<'EOF'`,
      ...e.destinations.map((d) => `route replace ${sh(d)} via ${sh(e.via)} dev ${sh(e.dev)} ${where}`),
      `EOF`,
      "",
      `step "unpin destinations no longer pinned to ${e.uplink}"`,
      `mw_routes ${e.table} ${e.protocol} dev ${sh(e.dev)} | cut -d' ' -f1 | grep -v '^default$' | grep -vxF '${list}' |`,
      `  sed 's/^/route del /; s/$/ ${where}/' | ip_batch`,
    ]),
    remove: script(`${title}: remove`, [
      `step "unpin ${e.destinations.length} destination(s) from ${e.uplink}"`,
      `mw_routes ${e.table} ${e.protocol} dev ${sh(e.dev)} | cut -d' ' -f1 | grep -xF '${list}' |`,
      `  sed 's/^/route del /; s/$/ ${where}/' | ip_batch`,
    ]),
    read: script(`${title}: read`, [
      `mw_routes ${e.table} ${e.protocol} dev ${sh(e.dev)} | grep -v '^default' | sed 's/^/route /' || true`,
    ]),
  };
}

export function expectedPinnedRoutes(e: PinnedRoutesEntry): string[] {
  return e.destinations.map((d) => `route ${d} via ${e.via}`);
}
