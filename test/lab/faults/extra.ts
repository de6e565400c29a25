// The hook for more cases in the fault suite: cases given as data, run after
// the seeded faults on the same lab. The foreign-state cases (issue 15, item
// 1: someone else's route, rule, nft table or iptables chain where multiwan
// would put its own) are written elsewhere, in ./foreign.ts as
// `export const FOREIGN_CASES: ExtraCase[]`; the suite picks them up when
// that file exists.
import fs from "node:fs";
import path from "node:path";

export type Backend = "nftables" | "iptables";

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

/** ./foreign.ts's FOREIGN_CASES, when that file is there; none otherwise. */
export function loadExtraCases(): ExtraCase[] {
  const file = path.join(__dirname, "foreign.js");
  if (!fs.existsSync(file)) return [];
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(file) as { FOREIGN_CASES?: ExtraCase[] };
  return mod.FOREIGN_CASES ?? [];
}
