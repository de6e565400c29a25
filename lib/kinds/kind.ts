// What one resource kind is, in one place: its entry schema (the provider's
// check validates with it, so a hand-built resource is held to the site's
// rules), its identity on the host, its boot order, its three scripts, the
// kernel state it expects and the parser that reads that state back.
import type { z } from "zod";
import type { Facts } from "../facts/sections";
import type { Claim } from "../ownership";

export interface Kind<E> {
  /** The entry: the resource's inputs besides the connection and preflight. */
  schema: z.ZodType<E>;
  /** The resource's name within one gateway ("<gateway>-<key>"), also its boot copy's name. */
  key(entry: E): string;
  /** The resource id: what it owns on the host, stable across updates. */
  id(entry: E): string;
  /** Entry fields bound to the resource's identity on the host: a change replaces it. */
  replaceOn: readonly (keyof E & string)[];
  /** Boot copies run in this order: that of the resources' dependencies. */
  bootOrder: number;
  /** "RoutingTable isp1 (table 101)": the scripts' title. */
  title(entry: E): string;
  /**
   * What the apply changes and must be ours first (routes of a table, a rule
   * priority, an nft table, an iptables chain): checked before anything is
   * recorded or changed, so a foreign object stops the apply (issue 15).
   */
  owns(entry: E): Claim[];
  /** Steps that converge the host to the entry from any starting state. */
  apply(entry: E): string[];
  /** Steps that delete only what carries our mark; idempotent. */
  remove(entry: E): string[];
  /** Commands that print the facts `parse` reads (`fact NAME command...`); they change nothing. */
  read(entry: E): string[];
  /** The canonical state lines of a host that matches the entry. */
  expected(entry: E): string[];
  /** The read output's facts -> canonical state lines (the same shape as `expected`). */
  parse(facts: Facts, entry: E): string[];
  /**
   * What the health monitor says about the uplinks this resource uses
   * ("isp1 down since ..."): reported beside kernelState, never in it, so an
   * outage shows in an output instead of as drift.
   */
  health?(facts: Facts, entry: E): string[];
}

/** Sorted unique lines: both sides of a drift compare are put in this form. */
export function canonical(lines: string[]): string[] {
  return [...new Set(lines.map((l) => l.trim().replace(/\s+/g, " ")).filter((l) => l.length > 0))].sort();
}
