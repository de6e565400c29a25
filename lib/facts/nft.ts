// `nft -j list table ip NAME` -> one line per table, chain and rule:
//   table ip multiwan-nat-isp1
//   chain postrouting: type nat hook postrouting priority 100 policy accept
//   rule postrouting: oifname "eth1" masquerade
// The rule text follows nft's own syntax for the expressions multiwan writes;
// anything else is printed as its JSON, so a foreign rule shows as drift.
import { type Facts, factJson } from "./sections";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Obj = { [key: string]: Json };

const isObj = (v: Json | undefined): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const IFNAME_KEYS = new Set(["iifname", "oifname"]);
const MARK_KEYS = new Set(["mark"]);
/** Keys nft prints without the `meta` keyword. */
const BARE_META = new Set(["iifname", "oifname", "iif", "oif"]);

interface Context {
  quote: boolean;
  hex: boolean;
}

const BINARY_OPS = ["&", "|", "^"];

/** The operands of `a & b` (and | ^), or undefined for any other expression. */
function binary(v: Json | undefined): { op: string; pair: [Json, Json] } | undefined {
  if (!isObj(v)) return undefined;
  for (const op of BINARY_OPS) {
    const pair = v[op];
    if (Array.isArray(pair) && pair.length === 2) return { op, pair: [pair[0], pair[1]] };
  }
  return undefined;
}

/** How the values compared with or assigned to `left` are spelled: quoted names, hex marks. */
function keyOf(left: Json): Context {
  const op = binary(left);
  if (op) return keyOf(op.pair[0]);
  if (!isObj(left)) return { quote: false, hex: false };
  const inner = (isObj(left.meta) && left.meta) || (isObj(left.ct) && left.ct) || undefined;
  const key = inner && typeof inner.key === "string" ? inner.key : "";
  return { quote: IFNAME_KEYS.has(key), hex: MARK_KEYS.has(key) };
}

function value(v: Json, ctx: Context): string {
  if (typeof v === "string") return ctx.quote ? `"${v}"` : v;
  // Marks as nft lists them: 32-bit hex, zero-padded.
  if (typeof v === "number") return ctx.hex ? `0x${v.toString(16).padStart(8, "0")}` : String(v);
  if (Array.isArray(v)) return v.map((x) => value(x, ctx)).join(",");
  if (isObj(v)) {
    if (Array.isArray(v.set)) return `{ ${v.set.map((x) => value(x, ctx)).join(", ")} }`;
    if (isObj(v.meta) && typeof v.meta.key === "string") return BARE_META.has(v.meta.key) ? v.meta.key : `meta ${v.meta.key}`;
    if (isObj(v.ct) && typeof v.ct.key === "string") return `ct ${v.ct.key}`;
    if (isObj(v.payload)) return `${v.payload.protocol} ${v.payload.field}`;
    const op = binary(v);
    if (op) return `${value(op.pair[0], ctx)} ${op.op} ${value(op.pair[1], ctx)}`;
  }
  return JSON.stringify(v);
}

function statement(expr: Obj): string {
  const [name] = Object.keys(expr);
  const body = expr[name];
  switch (name) {
    case "match": {
      if (!isObj(body)) break;
      const ctx = keyOf(body.left);
      // nft leaves out "==" after a plain key, but writes it after `a & b`.
      const op = (body.op === "==" || body.op === "in") && !binary(body.left) ? "" : `${body.op} `;
      return `${value(body.left, ctx)} ${op}${value(body.right, ctx)}`;
    }
    case "mangle": {
      if (!isObj(body)) break;
      return `${value(body.key, keyOf(body.key))} set ${value(body.value, keyOf(body.key))}`;
    }
    case "dnat":
    case "snat": {
      if (!isObj(body)) break;
      return `${name} to ${body.addr}${body.port !== undefined ? `:${body.port}` : ""}`;
    }
    case "counter":
      return "counter";
    case "accept":
    case "drop":
    case "return":
    case "masquerade":
      if (body === null) return name;
      break;
    case "jump":
    case "goto":
      if (isObj(body)) return `${name} ${body.target}`;
      break;
  }
  return JSON.stringify(expr);
}

/** The lines of one table's fact; an absent table gives none. */
export function nftLines(facts: Facts, name: string): string[] {
  const parsed = factJson<{ nftables?: Json[] }>(facts, name, { nftables: [] });
  if ("unreadable" in parsed) return [parsed.unreadable];
  const lines: string[] = [];
  for (const item of parsed.value.nftables ?? []) {
    if (!isObj(item)) continue;
    if (isObj(item.table)) lines.push(`table ${item.table.family} ${item.table.name}`);
    if (isObj(item.chain)) {
      const c = item.chain;
      const base = c.hook === undefined ? "" : `: type ${c.type} hook ${c.hook} priority ${c.prio} policy ${c.policy}`;
      lines.push(`chain ${c.name}${base}`);
    }
    if (isObj(item.rule)) {
      const exprs = Array.isArray(item.rule.expr) ? item.rule.expr.filter(isObj) : [];
      lines.push(`rule ${item.rule.chain}: ${exprs.map(statement).join(" ")}`);
    }
  }
  return lines;
}
