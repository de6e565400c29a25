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
export type Body<E> = Pick<Kind<E>, "owns" | "apply" | "remove" | "read" | "expected" | "parse">;

/** Named chain priorities as `nft -j` prints them (numbers). */
const PRIORITIES = { mangle: -150, dstnat: -100, filter: 0, srcnat: 100 } as const;

export interface NftChain {
  name: string;
  /** "route" for output chains whose mark change must re-route the packet. */
  type: "nat" | "filter" | "route";
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
    owns: () => [{ object: "nft", name }],
    apply() {
      const table = nftTable(name, chains());
      return [
        `step "nftables table ${name}"`,
        `command -v nft >/dev/null || die "nft (nftables) is not installed"`,
        // Written as nft lists it, so one string is both compared and loaded.
        `mw_table=$(cat <<'EOF'`,
        table,
        `EOF`,
        `)`,
        `if [ "$(nft list table ip ${name} 2>/dev/null)" != "$mw_table" ]; then`,
        `  printf '+ nft -f - (replace table ip ${name})\\n' >&2`,
        `  printf 'table ip %s\\ndelete table ip %s\\n%s\\n' ${name} ${name} "$mw_table" | nft -f - || die "nft rejected table ${name}"`,
        `fi`,
      ];
    },
    // One of the same name that our records do not name is someone else's: it stays.
    remove: () => [
      `step "remove nftables table ${name}"`,
      `if mw_nft_foreign ${name}; then printf 'multiwan: kept nft table ip %s: not ours (no record of ours names it)\\n' ${name} >&2`,
      `elif nft list table ip ${name} >/dev/null 2>&1; then run nft delete table ip ${name}; fi`,
    ],
    read: () => [`fact nft nft -j list table ip ${name}`],
    expected: () => nftExpected(name, chains()),
    parse: (facts) => nftLines(facts, "nft").map((l) => `nft ${l}`),
  };
}

export interface IptablesChain {
  table: "nat" | "filter" | "mangle";
  /** The built-in chain that jumps to ours. */
  hook: string;
  chain: string;
  /** Rule specs after `-A <chain>`, as `iptables -S` prints them. */
  rules: string[];
}

/** One chain's converging steps: compare `-S`, restore if it differs, add the jump if missing. */
function applyChain({ table, hook, chain, rules }: IptablesChain): string[] {
  const lines = rules.map((r) => `-A ${chain} ${r}`);
  // iptables-nft creates the nftables table "ip <table>" on first use and
  // leaves it behind, empty, when our chains go. Note whether we created it;
  // GatewayHost, removed after every chain, deletes it again if it is empty.
  const marker = `${STATE_DIR}/created-iptables-${table}`;
  return [
    `step "iptables chain ${chain} (${table})"`,
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
}

/** iptables: each chain of ours plus one jump to it from its built-in chain. */
export function iptablesBody(spec: () => IptablesChain[]): Body<unknown> {
  return {
    owns: () => spec().map(({ table, chain }) => ({ object: "chain" as const, table, chain })),
    apply: () => [`command -v iptables-restore >/dev/null || die "iptables is not installed"`, ...spec().flatMap(applyChain)],
    remove: () =>
      spec().flatMap(({ table, hook, chain }) => [
        `step "remove iptables chain ${chain} (${table})"`,
        // A chain of our name that our records do not name is someone else's: it and the jumps to it stay.
        `if mw_chain_foreign ${table} ${chain}; then printf 'multiwan: kept iptables chain %s (%s): not ours (no record of ours names it)\\n' ${chain} ${table} >&2; else`,
        `  while iptables -t ${table} -C ${hook} -j ${chain} 2>/dev/null; do run iptables -t ${table} -D ${hook} -j ${chain}; done`,
        `  if iptables -t ${table} -S ${chain} >/dev/null 2>&1; then run iptables -t ${table} -F ${chain}; run iptables -t ${table} -X ${chain}; fi`,
        `fi`,
      ]),
    // iptables' text stays text: `-S` already prints canonical rule specs.
    read: () =>
      spec().flatMap(({ table, hook, chain }) => [
        `fact chain:${chain} iptables -t ${table} -S ${chain}`,
        `fact hook:${chain} iptables -t ${table} -S ${hook}`,
      ]),
    expected: () =>
      spec().flatMap(({ table, hook, chain, rules }) => [
        `iptables ${table} -N ${chain}`,
        ...rules.map((r) => `iptables ${table} -A ${chain} ${r}`),
        `iptables ${table} -A ${hook} -j ${chain}`,
      ]),
    parse: (facts) =>
      spec().flatMap(({ table, hook, chain }) => {
        const jump = `-A ${hook} -j ${chain}`;
        const lines = [...factLines(facts, `chain:${chain}`), ...factLines(facts, `hook:${chain}`).filter((l) => l === jump)];
        return lines.map((l) => `iptables ${table} ${l}`);
      }),
  };
}

/** A kind's scripts and state from the body its entry chooses (by backend). */
export function byBackend<E>(body: (entry: E) => Body<unknown>): Body<E> {
  return {
    owns: (e) => body(e).owns(e),
    apply: (e) => body(e).apply(e),
    remove: (e) => body(e).remove(e),
    read: (e) => body(e).read(e),
    expected: (e) => body(e).expected(e),
    parse: (facts, e) => body(e).parse(facts, e),
  };
}
