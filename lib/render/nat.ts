// Masquerade (per uplink) and Forward: NAT and forwarding in tables or chains
// that only multiwan owns, so removal never touches anyone else's rules.
// nftables: one table per resource, replaced atomically with `nft -f`.
// iptables: one chain per resource plus a single jump to it.
import type { ForwardEntry, MasqueradeEntry } from "../plan";
import { STATE_DIR } from "./paths";
import { Scripts, canonicalState, script, sh } from "./shell";

/** A ruleset body in the exact layout `nft list table` prints, so it can be compared. */
function nftTable(name: string, chain: string, hook: string, rules: string[]): string {
  return [
    `table ip ${name} {`,
    `\tchain ${chain} {`,
    `\t\t${hook}`,
    ...rules.map((r) => `\t\t${r}`),
    `\t}`,
    `}`,
  ].join("\n");
}

function nftScripts(title: string, name: string, table: string): Scripts {
  return {
    apply: script(`${title}: apply`, [
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
    ]),
    remove: script(`${title}: remove`, [
      `step "remove nftables table ${name}"`,
      `! nft list table ip ${name} >/dev/null 2>&1 || run nft delete table ip ${name}`,
    ]),
    read: script(`${title}: read`, [`nft list table ip ${name} 2>/dev/null | sed 's/^/nft /' || true`]),
  };
}

function iptablesScripts(title: string, table: "nat" | "filter", hook: string, chain: string, rules: string[]): Scripts {
  const spec = rules.map((r) => `-A ${chain} ${r}`);
  // iptables-nft creates the nftables table "ip ${table}" on first use and
  // leaves it behind, empty, when our chains go. Note whether we created it;
  // GatewayHost, removed after every chain, deletes it again if it is empty.
  const marker = `${STATE_DIR}/created-iptables-${table}`;
  return {
    apply: script(`${title}: apply`, [
      `step "iptables chain ${chain} (${table})"`,
      `command -v iptables-restore >/dev/null || die "iptables is not installed"`,
      `if iptables -V | grep -q nf_tables && command -v nft >/dev/null && ! nft list table ip ${table} >/dev/null 2>&1; then : >${marker}; fi`,
      `[ "$(iptables -t ${table} -S ${chain} 2>/dev/null)" = ${sh([`-N ${chain}`, ...spec].join("\n"))} ] || {`,
      `  printf '+ iptables-restore --noflush (chain ${chain})\\n' >&2`,
      `  iptables-restore --noflush <<'EOF' || die "iptables-restore rejected chain ${chain}"`,
      `*${table}`,
      `:${chain} - [0:0]`,
      ...spec,
      `COMMIT`,
      `EOF`,
      `}`,
      `iptables -t ${table} -C ${hook} -j ${chain} 2>/dev/null || run iptables -t ${table} -A ${hook} -j ${chain}`,
    ]),
    remove: script(`${title}: remove`, [
      `step "remove iptables chain ${chain} (${table})"`,
      `while iptables -t ${table} -C ${hook} -j ${chain} 2>/dev/null; do run iptables -t ${table} -D ${hook} -j ${chain}; done`,
      `if iptables -t ${table} -S ${chain} >/dev/null 2>&1; then run iptables -t ${table} -F ${chain}; run iptables -t ${table} -X ${chain}; fi`,
    ]),
    read: script(`${title}: read`, [
      `iptables -t ${table} -S ${chain} 2>/dev/null | sed 's/^/iptables ${table} /' || true`,
      `! iptables -t ${table} -C ${hook} -j ${chain} 2>/dev/null || echo 'iptables ${table} -A ${hook} -j ${chain}'`,
    ]),
  };
}

const masqueradeNames = (e: MasqueradeEntry) => ({ nft: `multiwan-nat-${e.uplink}`, chain: `MW-NAT-${e.uplink}` });
const masqueradeTable = (e: MasqueradeEntry) =>
  nftTable(masqueradeNames(e).nft, "postrouting", "type nat hook postrouting priority srcnat; policy accept;", [`oifname "${e.interface}" masquerade`]);
const masqueradeRules = (e: MasqueradeEntry) => [`-o ${e.interface} -j MASQUERADE`];

export function renderMasquerade(e: MasqueradeEntry): Scripts {
  const title = `Masquerade ${e.uplink} (out of ${e.interface}, ${e.backend})`;
  const names = masqueradeNames(e);
  return e.backend === "nftables"
    ? nftScripts(title, names.nft, masqueradeTable(e))
    : iptablesScripts(title, "nat", "POSTROUTING", names.chain, masqueradeRules(e));
}

export function expectedMasquerade(e: MasqueradeEntry): string[] {
  const names = masqueradeNames(e);
  return e.backend === "nftables"
    ? canonicalState(masqueradeTable(e)).map((l) => `nft ${l}`)
    : [`iptables nat -N ${names.chain}`, ...masqueradeRules(e).map((r) => `iptables nat -A ${names.chain} ${r}`), `iptables nat -A POSTROUTING -j ${names.chain}`];
}

const FORWARD_TABLE = "multiwan-forward";
const FORWARD_CHAIN = "MW-FORWARD";
const forwardTable = (e: ForwardEntry) =>
  nftTable(FORWARD_TABLE, "forward", "type filter hook forward priority filter; policy accept;", [
    // nft lists a one-element set as a plain match; render it that way so the compare holds.
    e.uplinkInterfaces.length === 1
      ? `iifname "${e.lanInterface}" oifname "${e.uplinkInterfaces[0]}" accept`
      : `iifname "${e.lanInterface}" oifname { ${e.uplinkInterfaces.map((i) => `"${i}"`).join(", ")} } accept`,
    `ct state established,related accept`,
  ]);
const forwardRules = (e: ForwardEntry) => [
  ...e.uplinkInterfaces.map((i) => `-i ${e.lanInterface} -o ${i} -j ACCEPT`),
  `-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
];

export function renderForward(e: ForwardEntry): Scripts {
  const title = `Forward (${e.lanInterface} -> ${e.uplinkInterfaces.join(", ")}, ${e.backend})`;
  return e.backend === "nftables"
    ? nftScripts(title, FORWARD_TABLE, forwardTable(e))
    : iptablesScripts(title, "filter", "FORWARD", FORWARD_CHAIN, forwardRules(e));
}

export function expectedForward(e: ForwardEntry): string[] {
  return e.backend === "nftables"
    ? canonicalState(forwardTable(e)).map((l) => `nft ${l}`)
    : [`iptables filter -N ${FORWARD_CHAIN}`, ...forwardRules(e).map((r) => `iptables filter -A ${FORWARD_CHAIN} ${r}`), `iptables filter -A FORWARD -j ${FORWARD_CHAIN}`];
}
