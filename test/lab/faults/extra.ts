// The hook for more cases in the fault suite: cases given as data, run after
// the seeded faults on the same lab. The foreign-state cases (issue 15, item
// 1: someone else's route, rule, nft table or iptables chain where multiwan
// would put its own) are ./foreign.ts's, as data that
// test/lab/e2e/foreign.test.ts runs too.
import { type Backend, FOREIGN_CASES } from "./foreign";

export type { Backend };

export interface ExtraCase {
  name: string;
  /** Both backends when absent. */
  backends?: Backend[];
  /** The gateway before: bare (nothing deployed) or carrying the stack as planned. */
  start: "bare" | "deployed";
  /** sh run on the gateway (its namespaces and disk) before the action: plants the foreign state. */
  plant: string;
  /** sh whose output is the foreign state: the same before and after the action ("untouched"). */
  probe: string;
  /** sh that takes the foreign state away again, after the checks. */
  unplant: string;
  action: "up" | "destroy" | "refresh+up";
  /** The action must fail with output matching this (e.g. the refusal naming the object and the field to change). */
  refused?: RegExp;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * ./foreign.ts's cases as suite cases: the foreign object planted on a bare
 * gateway, `up` refused naming the object, its content and the field that
 * moves multiwan off it, the gateway unchanged and the object untouched.
 * (What `destroy` leaves of a foreign object, once the site has moved off
 * it, is test/lab/e2e/foreign.test.ts's.)
 */
export function loadExtraCases(): ExtraCase[] {
  return FOREIGN_CASES.map((c) => ({
    name: `${c.kind}: ${c.name}`,
    backends: [...c.backends],
    start: "bare",
    plant: c.inject,
    probe: c.check,
    unplant: c.remove,
    action: "up",
    refused: new RegExp(`${c.refusal.source}.*${escapeRegExp(c.field)}`),
  }));
}
