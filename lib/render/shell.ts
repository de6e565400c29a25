// Shared pieces of every generated script: the prelude, quoting, and the
// normalised views of `ip` output that both the guards and `read` use.

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
 * (An sh `${...}` is written `${"${...}"}` here: this is a template literal.)
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
# Converges the rule at priority $1 to the rule "$2" (ip rule selector words).
mw_rule() {
  mw_want="$1: $2 proto $3"
  [ "$(mw_rules "$1")" = "$mw_want" ] && return 0
  while ip rule del pref "$1" protocol "$3" 2>/dev/null; do printf '+ ip rule del pref %s protocol %s\n' "$1" "$3" >&2; done
  [ -z "$(mw_rules "$1")" ] || die "priority $1 holds a rule multiwan did not add: $(mw_rules "$1")"
  # ip rule shows a rule without a "from" as "from all": add it without one.
  mw_sel=${"${2#from all }"}
  # shellcheck disable=SC2086 # split on purpose: $mw_sel is a validated list of selector words
  run ip rule add pref "$1" $mw_sel protocol "$3"
}
# Deletes every rule of ours at priority $1.
mw_unrule() { while ip rule del pref "$1" protocol "$2" 2>/dev/null; do printf '+ ip rule del pref %s protocol %s\n' "$1" "$2" >&2; done; }
# Writes stdin to file $1 when its content differs.
write_file() {
  mw_content=$(cat)
  if [ -f "$1" ] && [ "$(cat "$1")" = "$mw_content" ]; then return 0; fi
  printf '+ write %s\n' "$1" >&2
  printf '%s\n' "$mw_content" >"$1.multiwan-tmp" && mv "$1.multiwan-tmp" "$1" || die "cannot write $1"
}
need_interface() { [ -e "/sys/class/net/$1" ] || die "interface $1 does not exist on this host"; }`;

export interface Scripts {
  /** Converges the host to the entry from any starting state. */
  apply: string;
  /** Idempotent; deletes only what carries our mark. */
  remove: string;
  /** Prints the live state the resource owns, one canonical line each (see canonicalState). */
  read: string;
}

/** Builds one script: header comment, prelude, then the body's steps. */
export function script(title: string, body: string[]): string {
  return [`#!/bin/sh`, `# multiwan: ${title}`, PRELUDE, "", ...body, ""].join("\n");
}

/** Read output -> sorted unique lines; the same function canonicalises both sides. */
export function canonicalState(text: string): string[] {
  const lines = text.split("\n").map((l) => l.trim().replace(/\s+/g, " ")).filter((l) => l.length > 0);
  return [...new Set(lines)].sort();
}
