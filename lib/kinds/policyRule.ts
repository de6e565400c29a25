// PolicyRule: "from <uplink address> lookup <uplink table>", so replies
// leave through the uplink whose address they carry.
import { z } from "zod";
import { leaseOf, unlease } from "../facts/lease";
import { rulesOf } from "../facts/rules";
import { LEASE, isLease, leaseRefs, readLeases } from "../render/lease";
import { sh } from "../render/shell";
import type { Kind } from "./kind";
import { interfaceName, ipv4, protocolNumber, rulePriority, tableId, uplinkName } from "./fields";

export const policyRuleSchema = z.strictObject({
  uplink: uplinkName,
  priority: rulePriority,
  /** The uplink's own address: replies from it leave through its table. */
  from: z.union([ipv4, z.literal(LEASE)]),
  table: tableId,
  protocol: protocolNumber,
  /** The uplink's interface: where a "dhcp" address is read from (design §11). */
  interface: interfaceName.optional(),
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
  owns: (e) => [{ object: "rule", priority: e.priority, protocol: e.protocol }],
  apply: (e) => {
    if (!isLease(e.from))
      return [`step "rule ${e.priority}: ${ruleSelector(e)}"`, `mw_rule ${e.priority} '${ruleSelector(e)}' ${e.protocol}`];
    const [ref] = leaseRefs([e.interface!]);
    return [
      ...readLeases([ref]),
      // A new lease replaces the rule of the old address at the same priority; no lease: no rule.
      `if [ -n "${ref.addr}" ]; then`,
      `  step "rule ${e.priority}: from ${ref.addr} (the lease on ${e.interface}) lookup ${e.table}"`,
      `  mw_rule ${e.priority} "from ${ref.addr} lookup ${e.table}" ${e.protocol}`,
      `else`,
      `  step "no DHCP lease on ${e.interface}: no rule at priority ${e.priority}"`,
      `  mw_unrule ${e.priority} ${e.protocol}`,
      `fi`,
    ];
  },
  remove: (e) => [`step "remove our rule at priority ${e.priority}"`, `mw_unrule ${e.priority} ${e.protocol}`],
  read: (e) => [
    `fact rules ip -j -N rule show pref ${e.priority}`,
    ...(isLease(e.from) ? [`fact lease-${e.interface} mw_lease ${sh(e.interface!)}`] : []),
  ],
  expected: (e) => [`rule ${e.priority}: ${ruleSelector(e)} proto ${e.protocol}`],
  // The lease's address reads back as "dhcp"; without a lease, no rule is what is wanted.
  parse: (facts, e) => {
    const lines = rulesOf(facts, ["rules"]).map((l) => `rule ${l}`);
    if (!isLease(e.from)) return lines;
    const lease = leaseOf(facts, e.interface!);
    return lease.address ? unlease(lines, [lease]) : [...lines, `rule ${e.priority}: ${ruleSelector(e)} proto ${e.protocol}`];
  },
};
