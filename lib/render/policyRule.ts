// PolicyRule: "from <uplink address> lookup <uplink table>", so replies
// leave through the uplink whose address they carry.
import type { PolicyRuleEntry } from "../plan";
import { Scripts, script } from "./shell";

export const ruleSelector = (e: PolicyRuleEntry) => `from ${e.from} lookup ${e.table}`;

export function renderPolicyRule(e: PolicyRuleEntry): Scripts {
  const title = `PolicyRule ${e.uplink} (priority ${e.priority})`;
  return {
    apply: script(`${title}: apply`, [
      `step "rule ${e.priority}: ${ruleSelector(e)}"`,
      `mw_rule ${e.priority} '${ruleSelector(e)}' ${e.protocol}`,
    ]),
    remove: script(`${title}: remove`, [
      `step "remove our rule at priority ${e.priority}"`,
      `mw_unrule ${e.priority} ${e.protocol}`,
    ]),
    read: script(`${title}: read`, [`mw_rules ${e.priority} | sed 's/^/rule /'`]),
  };
}

export function expectedPolicyRule(e: PolicyRuleEntry): string[] {
  return [`rule ${e.priority}: ${ruleSelector(e)} proto ${e.protocol}`];
}
