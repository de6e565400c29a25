// MultipathDefaultRoute: the weighted default in its own table, reached
// after main has answered everything but its default (the wg-quick pattern),
// so the host's own default route stays untouched as a fallback.
import type { MultipathEntry } from "../plan";
import { Scripts, script, sh } from "./shell";

const MAIN_TABLE = 254;
const mainSelector = `from all lookup ${MAIN_TABLE} suppress_prefixlength 0`;
const multipathSelector = (e: MultipathEntry) => `from all lookup ${e.table}`;

const nexthops = (e: MultipathEntry) =>
  e.nexthops.map((n) => `nexthop via ${sh(n.via)} dev ${sh(n.dev)} weight ${n.weight}`).join(" ");

export function renderMultipath(e: MultipathEntry): Scripts {
  const title = `MultipathDefaultRoute (table ${e.table})`;
  const want = `default ${e.nexthops.map((n) => `nexthop via ${n.via} dev ${n.dev} weight ${n.weight}`).join(" ")}`;
  return {
    apply: script(`${title}: apply`, [
      `step "check interfaces"`,
      ...e.nexthops.map((n) => `need_interface ${sh(n.dev)}`),
      "",
      `step "weighted default route in table ${e.table}"`,
      `[ "$(mw_routes ${e.table} ${e.protocol} | grep '^default ' || true)" = ${sh(want)} ] ||`,
      `  run ip route replace default table ${e.table} proto ${e.protocol} ${nexthops(e)}`,
      "",
      `step "rules that reach table ${e.table} after main"`,
      `mw_rule ${e.mainPriority} '${mainSelector}' ${e.protocol}`,
      `mw_rule ${e.multipathPriority} '${multipathSelector(e)}' ${e.protocol}`,
    ]),
    remove: script(`${title}: remove`, [
      `step "remove the rules to table ${e.table}"`,
      `mw_unrule ${e.multipathPriority} ${e.protocol}`,
      `mw_unrule ${e.mainPriority} ${e.protocol}`,
      "",
      `step "remove the weighted default route"`,
      `[ -z "$(mw_routes ${e.table} ${e.protocol} | grep '^default ' || true)" ] || run ip route del default table ${e.table} proto ${e.protocol}`,
    ]),
    read: script(`${title}: read`, [
      `mw_routes ${e.table} ${e.protocol} | grep '^default ' | sed 's/^/route /' || true`,
      `mw_rules ${e.mainPriority} | sed 's/^/rule /'`,
      `mw_rules ${e.multipathPriority} | sed 's/^/rule /'`,
    ]),
  };
}

export function expectedMultipath(e: MultipathEntry): string[] {
  return [
    `route default ${e.nexthops.map((n) => `nexthop via ${n.via} dev ${n.dev} weight ${n.weight}`).join(" ")}`,
    `rule ${e.mainPriority}: ${mainSelector} proto ${e.protocol}`,
    `rule ${e.multipathPriority}: ${multipathSelector(e)} proto ${e.protocol}`,
  ];
}

