// What Masquerade and Forward share: NAT and forwarding in tables or chains
// that only multiwan owns, so removal never touches anyone else's rules.
// nftables: one table per resource, replaced atomically with `nft -f`.
// iptables: one chain per resource plus a single jump to it.
import { factLines } from "../facts/sections";
import { nftLines } from "../facts/nft";
import { STATE_DIR } from "../render/paths";
import { sh } from "../render/shell";
import type { Kind } from "./kind";

/** The scripts and state of one kind: everything but its identity. */
export type Body<E> = Pick<Kind<E>, "apply" | "remove" | "read" | "expected" | "parse">;

/** Named chain priorities as `nft -j` prints them (numbers). */
const PRIORITIES: Record<string, number> = { dstnat: -100, filter: 0, srcnat: 100 };

export interface NftChain {
  name: string;
  type: "nat" | "filter";
  hook: string;
  priority: keyof typeof PRIORITIES;
  /** In the exact text `nft list table` prints, so the apply guard can compare. */
  rules: string[];
}

/** A table body in the exact layout `nft list table` prints, so it can be compared. */
function nftTable(name: string, chains: NftChain[]): string {
  return [
    `table ip ${name} {`,
    ...chains.flatMap((c, i) => [
      ...(i > 0 ? [""] : []),
      `\tchain ${c.name} {`,
      `\t\ttype ${c.type} hook ${c.hook} priority ${c.priority}; policy accept;`,
      ...c.rules.map((r) => `\t\t${r}`),
      `\t}`,
    ]),
    `}`,
  ].join("\n");
}

/** The state lines of a table as lib/facts/nft.ts reads them back. */
function nftExpected(name: string, chains: NftChain[]): string[] {
  return [
    `nft table ip ${name}`,
    ...chains.flatMap((c) => [
      `nft chain ${c.name}: type ${c.type} hook ${c.hook} priority ${PRIORITIES[c.priority]} policy accept`,
      ...c.rules.map((r) => `nft rule ${c.name}: ${r}`),
    ]),
  ];
}

export function nftBody(name: string, chains: () => NftChain[]): Body<unknown> {
  return {
    apply() {
      const table = nftTable(name, chains());
      return [
        `step "nftables table ${name}"`,
        `command -v nft >/dev/null || die "nft (nftables) is not installed"`,
        `[ "$(nft list table ip ${name} 2>/dev/null)" = "$(cat <<'EOF'`,
        table,
        `EOF`,
        `)" ] || {`,
        `  printf '+ nft -f - (replace table ip ${name})\\n' >&2`,
        `  nft -f - <<'EOF' || die "nft rejected table ${name}"`,
        `table ip ${name}`,
        `delete table ip ${name}`,
        table,
        `EOF`,
        `}`,
      ];
    },
    remove: () => [
      `step "remove nftables table ${name}"`,
      `! nft list table ip ${name} >/dev/null 2>&1 || run nft delete table ip ${name}`,
    ],
    read: () => [`fact nft nft -j list table ip ${name}`],
    expected: () => nftExpected(name, chains()),
    parse: (facts) => nftLines(facts, "nft").map((l) => `nft ${l}`),
  };
}

export interface IptablesChain {
  table: "nat" | "filter";
  /** The built-in chain that jumps to ours. */
  hook: string;
  chain: string;
  /** Rule specs after `-A <chain>`, as `iptables -S` prints them. */
  rules: string[];
}

export function iptablesBody(spec: () => IptablesChain): Body<unknown> {
  return {
    apply() {
      const { table, hook, chain, rules } = spec();
      const lines = rules.map((r) => `-A ${chain} ${r}`);
      // iptables-nft creates the nftables table "ip <table>" on first use and
      // leaves it behind, empty, when our chains go. Note whether we created it;
      // GatewayHost, removed after every chain, deletes it again if it is empty.
      const marker = `${STATE_DIR}/created-iptables-${table}`;
      return [
        `step "iptables chain ${chain} (${table})"`,
        `command -v iptables-restore >/dev/null || die "iptables is not installed"`,
        `if iptables -V | grep -q nf_tables && command -v nft >/dev/null && ! nft list table ip ${table} >/dev/null 2>&1; then : >${marker}; fi`,
        `[ "$(iptables -t ${table} -S ${chain} 2>/dev/null)" = ${sh([`-N ${chain}`, ...lines].join("\n"))} ] || {`,
        `  printf '+ iptables-restore --noflush (chain ${chain})\\n' >&2`,
        `  iptables-restore --noflush <<'EOF' || die "iptables-restore rejected chain ${chain}"`,
        `*${table}`,
        `:${chain} - [0:0]`,
        ...lines,
        `COMMIT`,
        `EOF`,
        `}`,
        `iptables -t ${table} -C ${hook} -j ${chain} 2>/dev/null || run iptables -t ${table} -A ${hook} -j ${chain}`,
      ];
    },
    remove() {
      const { table, hook, chain } = spec();
      return [
        `step "remove iptables chain ${chain} (${table})"`,
        `while iptables -t ${table} -C ${hook} -j ${chain} 2>/dev/null; do run iptables -t ${table} -D ${hook} -j ${chain}; done`,
        `if iptables -t ${table} -S ${chain} >/dev/null 2>&1; then run iptables -t ${table} -F ${chain}; run iptables -t ${table} -X ${chain}; fi`,
      ];
    },
    read() {
      const { table, hook, chain } = spec();
      // iptables' text stays text: `-S` already prints canonical rule specs.
      return [`fact chain iptables -t ${table} -S ${chain}`, `fact hook iptables -t ${table} -S ${hook}`];
    },
    expected() {
      const { table, hook, chain, rules } = spec();
      return [
        `iptables ${table} -N ${chain}`,
        ...rules.map((r) => `iptables ${table} -A ${chain} ${r}`),
        `iptables ${table} -A ${hook} -j ${chain}`,
      ];
    },
    parse(facts) {
      const { table, hook, chain } = spec();
      const jump = `-A ${hook} -j ${chain}`;
      return [...factLines(facts, "chain"), ...factLines(facts, "hook").filter((l) => l === jump)].map((l) => `iptables ${table} ${l}`);
    },
  };
}

/** A kind's scripts and state from the body its entry chooses (by backend). */
export function byBackend<E>(body: (entry: E) => Body<unknown>): Body<E> {
  return {
    apply: (e) => body(e).apply(e),
    remove: (e) => body(e).remove(e),
    read: (e) => body(e).read(e),
    expected: (e) => body(e).expected(e),
    parse: (facts, e) => body(e).parse(facts, e),
  };
}
