// `ip -j -N rule show pref P` -> "1001: from 192.168.1.1 lookup 101 proto 77",
// the way `ip -N rule show` prints a rule, so a state line reads like ip.
import { type Facts, factJson } from "./sections";

export interface JsonRule {
  priority: number;
  src?: string;
  srclen?: number;
  fwmark?: string;
  fwmask?: string;
  table?: string;
  suppress_prefixlen?: number;
  protocol?: string;
}

export function ruleText(r: JsonRule): string {
  const from = r.src === undefined || r.src === "all" ? "all" : r.srclen !== undefined && r.srclen !== 32 ? `${r.src}/${r.srclen}` : r.src;
  const mark = r.fwmark === undefined ? [] : [`fwmark ${r.fwmark}${r.fwmask && r.fwmask !== "0xffffffff" ? `/${r.fwmask}` : ""}`];
  const suppress = r.suppress_prefixlen === undefined ? [] : [`suppress_prefixlength ${r.suppress_prefixlen}`];
  const proto = r.protocol === undefined ? [] : [`proto ${r.protocol}`];
  return [`${r.priority}: from ${from}`, ...mark, `lookup ${r.table}`, ...suppress, ...proto].join(" ");
}

/** Every rule of the named facts, as `ruleText` spells it. */
export function rulesOf(facts: Facts, names: string[]): string[] {
  return names.flatMap((name) => {
    const parsed = factJson<JsonRule[]>(facts, name, []);
    if ("unreadable" in parsed) return [parsed.unreadable];
    return (Array.isArray(parsed.value) ? parsed.value : []).map(ruleText);
  });
}
