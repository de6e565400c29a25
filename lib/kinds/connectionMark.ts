// ConnectionMark (per uplink): connections keep the uplink they started on
// through any change of weights or uplinks (design §8). A connection gets
// the uplink's mark when it first leaves through it (postrouting) or
// arrives on it (prerouting: port forwards, the gateway's own services);
// every later packet carries the mark (prerouting, and output for the
// gateway's own traffic), and `fwmark <mark> lookup <uplink table>` sends it
// out the same uplink. Only the bits of routing.markMask are touched.
// Removing it also drops the uplink's connections from conntrack, so their
// clients reconnect at once through the uplinks that remain.
import { z } from "zod";
import { rulesOf } from "../facts/rules";
import { hex } from "../schema";
import type { Kind } from "./kind";
import { interfaceName, natBackend, protocolNumber, rulePriority, tableId, uplinkName } from "./fields";
import { type Body, iptablesBody, type NftChain, nftBody } from "./nat";

const mark = z.number().int().min(1).max(0xffffffff);

export const connectionMarkSchema = z
  .strictObject({
    uplink: uplinkName,
    interface: interfaceName,
    mark,
    mask: mark,
    /** The uplink's routing table, which the mark rule looks up. */
    table: tableId,
    priority: rulePriority,
    protocol: protocolNumber,
    backend: natBackend,
  })
  .refine((e) => (e.mark & ~e.mask) >>> 0 === 0, { error: "mark must lie inside mask", path: ["mark"] });
export type ConnectionMarkEntry = z.infer<typeof connectionMarkSchema>;

/** nft prints marks zero-padded (so does lib/facts/nft.ts); the table is written the way it lists. */
const hex8 = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;
/** (x & ~mask) | mark, as nft lists it: it folds the mark into the kept bits. */
const keepOthers = (e: ConnectionMarkEntry) => (~e.mask | e.mark) >>> 0;

function nftChains(e: ConnectionMarkEntry): NftChain[] {
  const unmarked = `ct mark & ${hex8(e.mask)} == ${hex8(0)}`;
  const ours = `ct mark & ${hex8(e.mask)} == ${hex8(e.mark)}`;
  const setCt = `ct mark set ct mark & ${hex8(keepOthers(e))} | ${hex8(e.mark)}`;
  const restore = `${ours} meta mark set meta mark & ${hex8(keepOthers(e))} | ${hex8(e.mark)}`;
  return [
    {
      name: "prerouting",
      type: "filter",
      hook: "prerouting",
      priority: "mangle",
      rules: [`iifname "${e.interface}" ${unmarked} ${setCt}`, restore],
    },
    // type route: a packet whose mark changes here is routed again.
    { name: "output", type: "route", hook: "output", priority: "mangle", rules: [restore] },
    {
      name: "postrouting",
      type: "filter",
      hook: "postrouting",
      priority: "mangle",
      rules: [`oifname "${e.interface}" ${unmarked} ${setCt}`],
    },
  ];
}

function iptablesChains(e: ConnectionMarkEntry) {
  const m = `${hex(e.mark)}/${hex(e.mask)}`;
  const unmarked = `-m connmark --mark 0x0/${hex(e.mask)}`;
  const restore = `-m connmark --mark ${m} -j MARK --set-xmark ${m}`;
  const chain = (suffix: string) => `MW-MARK-${e.uplink}-${suffix}`;
  return [
    {
      table: "mangle" as const,
      hook: "PREROUTING",
      chain: chain("PRE"),
      rules: [`-i ${e.interface} ${unmarked} -j CONNMARK --set-xmark ${m}`, restore],
    },
    { table: "mangle" as const, hook: "OUTPUT", chain: chain("OUT"), rules: [restore] },
    {
      table: "mangle" as const,
      hook: "POSTROUTING",
      chain: chain("POST"),
      rules: [`-o ${e.interface} ${unmarked} -j CONNMARK --set-xmark ${m}`],
    },
  ];
}

function marking(e: ConnectionMarkEntry): Body<unknown> {
  return e.backend === "iptables" ? iptablesBody(() => iptablesChains(e)) : nftBody(`multiwan-mark-${e.uplink}`, () => nftChains(e));
}

const selector = (e: ConnectionMarkEntry) => `from all fwmark ${hex(e.mark)}/${hex(e.mask)} lookup ${e.table}`;

export const connectionMark: Kind<ConnectionMarkEntry> = {
  schema: connectionMarkSchema,
  key: (e) => `mark-${e.uplink}`,
  id: (e) => `mark-${e.priority}`,
  // A new mark or mask would leave live connections with the old one: remove
  // (which drops them) and create again.
  replaceOn: ["priority", "backend", "mark", "mask", "uplink"],
  bootOrder: 35,
  title: (e) => `ConnectionMark ${e.uplink} (${hex(e.mark)}/${hex(e.mask)}, ${e.backend})`,
  owns: (e) => [...marking(e).owns(e), { object: "rule", priority: e.priority, protocol: e.protocol }],
  apply: (e) => [
    ...marking(e).apply(e),
    "",
    `step "rule ${e.priority}: marked connections leave through ${e.uplink}"`,
    `mw_rule ${e.priority} '${selector(e)}' ${e.protocol}`,
  ],
  remove: (e) => [
    `step "remove our rule at priority ${e.priority}"`,
    `mw_unrule ${e.priority} ${e.protocol}`,
    "",
    ...marking(e).remove(e),
    "",
    `step "drop ${e.uplink}'s connections from conntrack, so their clients reconnect through the other uplinks"`,
    `if command -v conntrack >/dev/null; then`,
    `  printf '+ conntrack -D --mark %s\\n' ${hex(e.mark)}/${hex(e.mask)} >&2`,
    // Exit 1 means none matched; that is fine.
    `  conntrack -D --mark ${hex(e.mark)}/${hex(e.mask)} >/dev/null 2>&1 || true`,
    `fi`,
  ],
  read: (e) => [...marking(e).read(e), `fact rules ip -j -N rule show pref ${e.priority}`],
  expected: (e) => [...marking(e).expected(e), `rule ${e.priority}: ${selector(e)} proto ${e.protocol}`],
  parse: (facts, e) => [...marking(e).parse(facts, e), ...rulesOf(facts, ["rules"]).map((l) => `rule ${l}`)],
};
