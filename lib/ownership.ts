// What multiwan would own on the box, and the proof that it is ours (issue 15,
// Build 1): a route or rule is ours when it carries our protocol; an nft
// table or iptables chain of our name is ours when one of our records on the
// box names it (the undo record in remove.d is written before the object is
// made and goes only after it is gone; apply.d holds the boot copies). So
// ownership needs no marker inside the object: an nft table and an iptables
// chain are proved the same way, and what lands in them stays as it was.
//
// The preflight checks every object of the whole site before the first
// change of a run and lists every clash with the site field that moves us off
// it; each apply checks its own objects again before it records anything (a
// second line of defence), and removal skips a table or chain it cannot prove.
import { z } from "zod";
import { nftLines } from "./facts/nft";
import { type JsonRoute, routeText } from "./facts/routes";
import { type JsonRule, ruleText } from "./facts/rules";
import { type Facts, factJson, factLines } from "./facts/sections";
import { protocolNumber, rulePriority, tableId } from "./schema";
import { sh } from "./render/shell";

const iptablesTable = z.enum(["nat", "filter", "mangle"]);
const objectName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,60}$/);

/** One object a resource would change: routes of a table, a rule priority, an nft table, an iptables chain. */
export const claimSchema = z.discriminatedUnion("object", [
  z.strictObject({ object: z.literal("routes"), table: tableId, protocol: protocolNumber }),
  z.strictObject({ object: z.literal("rule"), priority: rulePriority, protocol: protocolNumber }),
  z.strictObject({ object: z.literal("nft"), name: objectName }),
  z.strictObject({ object: z.literal("chain"), table: iptablesTable, chain: objectName }),
]);
export type Claim = z.infer<typeof claimSchema>;

/** A claim of the whole site, with whose it is ("isp1's table") and the site field that moves us off it. */
export const ownedSchema = z.intersection(claimSchema, z.strictObject({ owner: z.string().min(1), field: z.string().min(1) }));
export type Owned = z.infer<typeof ownedSchema>;

const claimKey = (c: Claim) => {
  switch (c.object) {
    case "routes":
      return `routes ${c.table}`;
    case "rule":
      return `rule ${c.priority}`;
    case "nft":
      return `nft ${c.name}`;
    case "chain":
      return `chain ${c.table} ${c.chain}`;
  }
};

/** The claims without repeats (table 200 is both MultipathDefaultRoute's and PinnedRoutes'), first one kept. */
export function uniqueClaims<C extends Claim>(claims: readonly C[]): C[] {
  const seen = new Set<string>();
  return claims.filter((c) => {
    const k = claimKey(c);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The apply's first steps: refuse, before anything is recorded or changed, an object that is not ours. */
export function guardSteps(claims: readonly Claim[]): string[] {
  if (claims.length === 0) return [];
  return [
    `step "check that what this changes is multiwan's: routes and rules with our protocol, tables and chains our records name"`,
    ...uniqueClaims(claims).map((c) => {
      switch (c.object) {
        case "routes":
          return `mw_table_ours ${c.table} ${c.protocol}`;
        case "rule":
          return `mw_rule_ours ${c.priority} ${c.protocol}`;
        case "nft":
          return `mw_nft_ours ${sh(c.name)}`;
        default:
          return `mw_chain_ours ${c.table} ${sh(c.chain)}`;
      }
    }),
  ];
}

const factName = (c: Claim) => claimKey(c).replace(/ /g, ":");

/** The preflight's read-only lines: one fact per object; an nft table or chain only when it exists and is not ours. */
export function ownershipFacts(owned: readonly Claim[]): string[] {
  return uniqueClaims(owned).map((c) => {
    switch (c.object) {
      case "routes":
        return `fact ${factName(c)} ip -j -N route show table ${c.table}`;
      case "rule":
        return `fact ${factName(c)} ip -j -N rule show pref ${c.priority}`;
      case "nft":
        return `if mw_nft_foreign ${sh(c.name)}; then fact ${factName(c)} nft -j list table ip ${sh(c.name)}; fi`;
      default:
        return `if mw_chain_foreign ${c.table} ${sh(c.chain)}; then fact ${factName(c)} iptables -t ${c.table} -S ${sh(c.chain)}; fi`;
    }
  });
}

const PROTOCOLS: Record<string, string> = { "2": "kernel", "3": "boot", "4": "static", "16": "dhcp" };
/** A route as ip prints it, with its protocol (ip -j leaves out "boot", the default). */
const foreignRoute = (r: JsonRoute & { protocol?: string }) => `${routeText(r)} proto ${PROTOCOLS[r.protocol ?? "3"] ?? r.protocol}`;

/** At most `max` items, then how many more. */
function listed(items: string[], max = 4): string {
  const shown = items.slice(0, max).map((i) => `"${i}"`);
  return items.length > max ? `${shown.join(", ")} and ${items.length - max} more` : shown.join(", ");
}

/** What is not ours in one object, as content lines; none when it is ours or absent. */
function foreignContent(o: Owned, facts: Facts): string[] {
  const name = factName(o);
  switch (o.object) {
    case "routes": {
      const parsed = factJson<(JsonRoute & { protocol?: string })[]>(facts, name, []);
      if ("unreadable" in parsed) return [parsed.unreadable];
      return (Array.isArray(parsed.value) ? parsed.value : []).filter((r) => r.protocol !== String(o.protocol)).map(foreignRoute);
    }
    case "rule": {
      const parsed = factJson<JsonRule[]>(facts, name, []);
      if ("unreadable" in parsed) return [parsed.unreadable];
      return (Array.isArray(parsed.value) ? parsed.value : [])
        .filter((r) => r.protocol !== String(o.protocol))
        .map((r) => ruleText(r).replace(/^\d+: /, ""));
    }
    case "nft":
      return facts.has(name) ? nftLines(facts, name).filter((l) => !l.startsWith("table ")) : [];
    case "chain":
      return facts.has(name) ? factLines(facts, name).filter((l) => l !== `-N ${o.chain}`) : [];
  }
}

/** One clash as the user reads it: the object, its content, whose it would be, and the field that moves us off it. */
function clashMessage(o: Owned, content: string[]): string {
  const move = `it would be ${o.owner}: set ${o.field} to move multiwan off it`;
  switch (o.object) {
    case "routes":
      return `table ${o.table} holds ${content.length === 1 ? "a route" : `${content.length} routes`} multiwan did not add (not proto ${o.protocol}): ${listed(content)}; ${move}, or remove ${content.length === 1 ? "that route" : "those routes"}`;
    case "rule":
      return `priority ${o.priority} holds a rule multiwan did not add: ${listed(content)}; ${move}, or remove the rule`;
    case "nft":
      return `nft table ip ${o.name} exists and is not multiwan's (no record of ours in /etc/multiwan names it): ${content.length ? listed(content, 6) : "empty"}; ${move}, or delete the table`;
    case "chain":
      return `iptables chain ${o.chain} (table ${o.table}) exists and is not multiwan's (no record of ours in /etc/multiwan names it): ${content.length ? listed(content, 6) : "empty"}; ${move}, or delete the chain`;
  }
}

/** Every object of the site that holds what is not ours, one message each (empty: nothing clashes). */
export function ownershipClashes(owned: readonly Owned[], facts: Facts): string[] {
  return uniqueClaims(owned).flatMap((o) => {
    const content = foreignContent(o, facts);
    // An nft table or chain reported at all is foreign, even when empty.
    const foreign = content.length > 0 || ((o.object === "nft" || o.object === "chain") && facts.has(factName(o)));
    return foreign ? [clashMessage(o, content)] : [];
  });
}

/**
 * The site's owned objects as one line of text, as the gateway's provider
 * holds them in its configuration: a preview shows them in one line, not 100
 * (the first preview of a site fits 250 lines). One object per "; ":
 *   table 101 proto 77 [isp1's routing table | uplinks[0].table or routing.tableBase]
 *   priority 1001 proto 77 [... | ...]; nft multiwan-forward [...]; chain filter MW-FORWARD [...]
 */
export function formatOwned(owned: readonly Owned[]): string {
  return owned
    .map((o) => {
      const what =
        o.object === "routes"
          ? `table ${o.table} proto ${o.protocol}`
          : o.object === "rule"
            ? `priority ${o.priority} proto ${o.protocol}`
            : o.object === "nft"
              ? `nft ${o.name}`
              : `chain ${o.table} ${o.chain}`;
      return `${what} [${o.owner} | ${o.field}]`;
    })
    .join("; ");
}

const OWNED_ITEM =
  /^(?:table (?<table>\d+) proto (?<tproto>\d+)|priority (?<priority>\d+) proto (?<pproto>\d+)|nft (?<nft>\S+)|chain (?<ctable>\S+) (?<chain>\S+)) \[(?<owner>[^[\]|;]+) \| (?<field>[^|;]+)\]$/;

/** formatOwned's text back into objects; undefined when any item does not read. */
export function parseOwned(text: string): Owned[] | undefined {
  if (text.trim() === "") return [];
  const out: Owned[] = [];
  for (const item of text.split("; ")) {
    const g = OWNED_ITEM.exec(item.trim())?.groups;
    if (!g) return undefined;
    const tag = { owner: g.owner.trim(), field: g.field.trim() };
    const claim = g.table
      ? { object: "routes", table: Number(g.table), protocol: Number(g.tproto) }
      : g.priority
        ? { object: "rule", priority: Number(g.priority), protocol: Number(g.pproto) }
        : g.nft
          ? { object: "nft", name: g.nft }
          : { object: "chain", table: g.ctable, chain: g.chain };
    const parsed = ownedSchema.safeParse({ ...claim, ...tag });
    if (!parsed.success) return undefined;
    out.push(parsed.data);
  }
  return out;
}

/** The provider configuration's field: the text form (or, as the planner gives it, the objects themselves). */
export const ownedField = z.union([
  z.array(ownedSchema),
  z.string().transform((text, ctx) => {
    const owned = parseOwned(text);
    if (owned === undefined) {
      ctx.addIssue({ code: "custom", message: "must be objects as formatOwned writes them: table T proto P [owner | field]; ..." });
      return z.NEVER;
    }
    return owned;
  }),
]);
