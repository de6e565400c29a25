// Shared pieces of every generated script: the prelude (installed on the
// box as /etc/multiwan/lib.sh), quoting, and how a script is put together.
import { BOOT_DIR, HEALTH_STATE_DIR, STATE_DIR, UNDO_DIR } from "./paths";

/** Characters that never need quoting in sh; everything validated stays in this set. */
const SAFE = /^[A-Za-z0-9_./:=+@%,-]+$/;

/** Quotes a value for sh. Validated values come out unchanged, so scripts stay readable. */
export function sh(value: string | number): string {
  const text = String(value);
  if (SAFE.test(text)) return text;
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The prelude: strict mode, a stable locale, a step name for every error,
 * every change logged to stderr as "+ command", and the normalised readers.
 */
export const PRELUDE = String.raw`set -eu
export LC_ALL=C
MW_STEP=start
step() { MW_STEP=$1; printf '== %s\n' "$1" >&2; }
die() { printf 'multiwan: step "%s" failed: %s\n' "$MW_STEP" "$*" >&2; exit 1; }
run() { printf '+ %s\n' "$*" >&2; "$@" || die "$* (exit $?)"; }
# ip commands on stdin, one per line: logged, then applied as one batch.
ip_batch() {
  mw_batch=$(cat)
  [ -n "$mw_batch" ] || return 0
  printf '%s\n' "$mw_batch" | sed 's/^/+ ip /' >&2
  printf '%s\n' "$mw_batch" | ip -batch - || die "ip -batch failed"
}
# Routes of table $1 that carry protocol $2 (more filters may follow, e.g.
# "dev eth2"), one per line, numeric, single-spaced.
mw_routes() {
  mw_t=$1 mw_p=$2
  shift 2
  ip -N -o route show table "$mw_t" proto "$mw_p" "$@" | tr -d '\\' | tr '\t' ' ' | tr -s ' ' | sed 's/^ //; s/ $//'
}
# The rules at one priority, numeric, single-spaced.
mw_rules() { ip -N rule show pref "$1" | tr '\t' ' ' | tr -s ' ' | sed 's/ $//'; }
# Converges the rule at priority $1 to the rule "$2" (ip rule selector words,
# as "ip -N rule show" prints them) with protocol $3.
mw_rule() {
  mw_want="$1: $2 proto $3"
  [ "$(mw_rules "$1")" = "$mw_want" ] && return 0
  while ip rule del pref "$1" protocol "$3" 2>/dev/null; do printf '+ ip rule del pref %s protocol %s\n' "$1" "$3" >&2; done
  [ -z "$(mw_rules "$1")" ] || die "priority $1 holds a rule multiwan did not add: $(mw_rules "$1")"
  mw_selector=${"$"}{2#from all }
  # shellcheck disable=SC2086 # split on purpose: a validated list of selector words
  run ip rule add pref "$1" $mw_selector protocol "$3"
}
# Deletes every rule of ours at priority $1.
mw_unrule() { while ip rule del pref "$1" protocol "$2" 2>/dev/null; do printf '+ ip rule del pref %s protocol %s\n' "$1" "$2" >&2; done; }
# Ownership (issue 15): multiwan changes only what carries its mark. Routes
# of table $1 without protocol $2, one per line, single-spaced.
mw_foreign_routes() {
  ip -N -o route show table "$1" 2>/dev/null | tr -d '\\' | tr '\t' ' ' | tr -s ' ' |
    awk -v p="$2" '{ for (i = 1; i < NF; i++) if ($i == "proto" && $(i + 1) == p) next; sub(/ $/, ""); print }'
}
mw_table_ours() {
  mw_f=$(mw_foreign_routes "$1" "$2")
  [ -z "$mw_f" ] || die "table $1 holds a route multiwan did not add: $(printf '%s\n' "$mw_f" | head -n 1)"
}
mw_rule_ours() {
  mw_f=$(mw_rules "$1" | grep -v " proto $2\$" || true)
  [ -z "$mw_f" ] || die "priority $1 holds a rule multiwan did not add: $(printf '%s\n' "$mw_f" | head -n 1)"
}
# An nft table or iptables chain is ours when one of our records on the box
# names it: the undo record (remove.d) is written before the object is made
# and goes only after it is gone; apply.d holds the boot copies.
mw_recorded() { grep -qsE -e "$1" ${UNDO_DIR}/*.sh ${BOOT_DIR}/*.sh; }
mw_nft_foreign() { nft list table ip "$1" >/dev/null 2>&1 && ! mw_recorded "table ip $1( |\$)"; }
mw_chain_foreign() { iptables -t "$1" -S "$2" >/dev/null 2>&1 && ! mw_recorded "-t $1 -S $2( |\$)"; }
mw_nft_ours() { ! mw_nft_foreign "$1" || die "nft table ip $1 exists and is not multiwan's (no record of ours names it): $(nft list table ip "$1" | tr '\n\t' '  ' | tr -s ' ')"; }
mw_chain_ours() { ! mw_chain_foreign "$1" "$2" || die "iptables chain $2 ($1) exists and is not multiwan's (no record of ours names it): $(iptables -t "$1" -S "$2" | tr '\n' ';' | sed 's/;$//; s/;/; /g')"; }
# Writes stdin to file $1 when its content differs.
write_file() {
  mw_content=$(cat)
  if [ -f "$1" ] && [ "$(cat "$1")" = "$mw_content" ]; then return 0; fi
  printf '+ write %s\n' "$1" >&2
  printf '%s\n' "$mw_content" >"$1.multiwan-tmp" && mv "$1.multiwan-tmp" "$1" || die "cannot write $1"
}
# True when the health monitor has found uplink $1 down (its state file in
# ${HEALTH_STATE_DIR}); without a monitor there is no file and every uplink counts as up.
mw_down() {
  mw_state=
  [ ! -r "${HEALTH_STATE_DIR}/$1" ] || read -r mw_state _ <"${HEALTH_STATE_DIR}/$1" || true
  [ "$mw_state" = down ]
}
# For read: "<uplink> <state> <since>" for each uplink in $@ that the monitor watches.
mw_states() { for mw_u; do [ ! -r "${HEALTH_STATE_DIR}/$mw_u" ] || printf '%s %s\n' "$mw_u" "$(cat "${HEALTH_STATE_DIR}/$mw_u")"; done; }
# Converges the default route of table $1 (protocol $2) to the nexthops in $3
# ("nexthop via A dev X weight W ..."), compared the way ip prints it: a
# single nexthop prints as "default via A dev X".
mw_multipath() {
  mw_t=$1 mw_p=$2
  # shellcheck disable=SC2086 # split on purpose: a validated list of nexthop words
  set -- $3
  if [ $# -eq 6 ]; then mw_want="default via $3 dev $5"; else mw_want="default $*"; fi
  [ "$(mw_routes "$mw_t" "$mw_p" | grep '^default ' || true)" != "$mw_want" ] || return 0
  run ip route replace default table "$mw_t" proto "$mw_p" "$@"
}
# The DHCP lease on interface $1 (design §11): "<address>/<length> <subnet>
# <gateway>", the gateway being the default route the DHCP client installed in
# main (any metric; "" while it has none). Prints nothing without an address.
mw_lease() {
  mw_a=$(ip -o -4 addr show dev "$1" scope global 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "inet") { print $(i + 1); exit } }')
  [ -n "$mw_a" ] || return 0
  mw_g=$(ip -o -4 route show default dev "$1" 2>/dev/null | awk '$2 == "via" { print $3; exit }')
  mw_n=$(printf '%s\n' "$mw_a" | awk -F'[./]' '{ a = (($1 * 256 + $2) * 256 + $3) * 256 + $4; s = 2 ^ (32 - $5); n = int(a / s) * s
    printf "%d.%d.%d.%d/%d", int(n / 16777216), int(n / 65536) % 256, int(n / 256) % 256, n % 256, $5 }')
  printf '%s %s %s\n' "$mw_a" "$mw_n" "$mw_g"
}
need_interface() { [ -e "/sys/class/net/$1" ] || die "interface $1 does not exist on this host"; }
# For read: prints "@@ $1", then what the command prints (nothing when it
# fails, e.g. a table that does not exist). Parsed by lib/facts.
fact() {
  mw_name=$1
  shift
  printf '@@ %s\n' "$mw_name"
  if mw_out=$("$@" 2>/dev/null); then printf '%s\n' "$mw_out"; fi
}`;

export interface Scripts {
  /** Converges the host to the entry from any starting state. */
  apply: string;
  /** Idempotent; deletes only what carries our mark. */
  remove: string;
  /** Prints the facts the resource owns (see lib/facts); changes nothing. */
  read: string;
}

/** GatewayHost installs the prelude here; boot copies source it. */
export const LIB_PATH = `${STATE_DIR}/lib.sh`;
const SOURCE_LIB = `. ${LIB_PATH}`;

/**
 * One script as it is kept on the box: header, `. /etc/multiwan/lib.sh`,
 * then the steps. What the provider sends has the prelude inlined instead
 * (see inlinePrelude), so it never depends on the box's copy of lib.sh.
 */
export function sourcedScript(title: string, action: string, body: string[]): string {
  return [`#!/bin/sh`, `# multiwan: ${title}: ${action}`, SOURCE_LIB, "", ...body, ""].join("\n");
}

/** The sourced script with the prelude in place of the `. lib.sh` line. */
export function inlinePrelude(script: string): string {
  return script.replace(`\n${SOURCE_LIB}\n`, `\n${PRELUDE}\n`);
}

/** A self-contained script (prelude inlined) for checks that are no resource, like the preflight. */
export function script(title: string, body: string[]): string {
  return [`#!/bin/sh`, `# multiwan: ${title}`, PRELUDE, "", ...body, ""].join("\n");
}
