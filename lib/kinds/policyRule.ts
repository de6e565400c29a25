// PolicyRule: "from <uplink address> lookup <uplink table>", so replies
// leave through the uplink whose address they carry.
import { z } from "zod";
import { rulesOf } from "../facts/rules";
import type { Kind } from "./kind";
import { ipv4, protocolNumber, rulePriority, tableId, uplinkName } from "./fields";

export const policyRuleSchema = z.strictObject({
  uplink: uplinkName,
  priority: rulePriority,
  /** The uplink's own address: replies from it leave through its table. */
  from: ipv4,
  table: tableId,
  protocol: protocolNumber,
});
export type PolicyRuleEntry = z.infer<typeof policyRuleSchema>;

export const ruleSelector = (e: PolicyRuleEntry) => `from ${e.from} lookup ${e.table}`;

export const policyRule: Kind<PolicyRuleEntry> = {
  schema: policyRuleSchema,
  key: (e) => `rule-${e.uplink}`,
  id: (e) => `rule-${e.priority}`,
  replaceOn: ["priority", "table"],
  bootOrder: 30,
  title: (e) => `PolicyRule ${e.uplink} (priority ${e.priority})`,
  apply: (e) => [`step "rule ${e.priority}: ${ruleSelector(e)}"`, `mw_rule ${e.priority} '${ruleSelector(e)}' ${e.protocol}`],
  remove: (e) => [`step "remove our rule at priority ${e.priority}"`, `mw_unrule ${e.priority} ${e.protocol}`],
  read: (e) => [`fact rules ip -j -N rule show pref ${e.priority}`],
  expected: (e) => [`rule ${e.priority}: ${ruleSelector(e)} proto ${e.protocol}`],
  parse: (facts) => rulesOf(facts, ["rules"]).map((l) => `rule ${l}`),
};
