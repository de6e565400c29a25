// Commit-confirmed runs (design §10, issue 19). Before the first change of a
// run the provider arms a guard on the box: a snapshot of /etc/multiwan, of
// the other files GatewayHost writes and of the net.ipv4 sysctls, and a
// detached sleeper (a transient systemd service where systemd runs, else
// `setsid`) that rolls the box back to that snapshot unless the run confirms
// in time. Every change script the run sends first says it is working (its
// pid and the time), so a long change never trips the guard: the countdown
// runs only while no change script is alive, from the end of the last one.
//
// The rollback itself, with the records the box already keeps:
//   1. undo each resource whose remove.d record or apply.d copy differs from
//      the snapshot's, newest first, with the run's own remove record;
//   2. put back every sysctl either side saved, to its value at arming;
//   3. put back the files (/etc/multiwan and the rest) as they were;
//   4. apply each pre-run copy that the run had changed or removed.
// Resources the run did not touch are left as they are. At boot an armed
// snapshot means the run was never confirmed: the boot runner puts the files
// back (step 3) and then applies the pre-run copies as on any boot.
import { STATE_DIR } from "./paths";

/** The guard's home: survives a reboot (so the boot runner can still roll back), outside /etc/multiwan (which it restores). */
export const GUARD_PARENT = "/var/lib/multiwan";
export const GUARD_DIR = `${GUARD_PARENT}/rollback`;
/** Written last when arming: the snapshot is complete. */
export const ARMED = `${GUARD_DIR}/armed`;
export const ROLLBACK_SCRIPT = `${GUARD_DIR}/rollback.sh`;
export const GUARD_UNIT = "multiwan-rollback";
/** The files besides /etc/multiwan that GatewayHost writes (its table names, unit, wants link and link hooks). */
export const GUARDED_FILES = [
  "/etc/iproute2/rt_tables.d/multiwan.conf",
  "/etc/systemd/system/multiwan.service",
  "/etc/systemd/system/multi-user.target.wants/multiwan.service",
  "/etc/network/if-up.d/multiwan",
  "/etc/networkd-dispatcher/routable.d/50-multiwan",
];
const parentOf = (p: string) => p.replace(/\/[^/]+$/, "");
const HOST_RECORD = "10-host.sh";

export const DEFAULT_AFTER_SECONDS = 60;

/** The sleeper: fires afterSeconds after the last change script ended, never while one runs. */
function guardScript(afterSeconds: number): string {
  return [
    "#!/bin/sh",
    "# multiwan: rolls the gateway back unless pulumi confirms the run (armed by pulumi up/destroy).",
    "export LC_ALL=C",
    `G=${GUARD_DIR}`,
    'echo $$ >"$G/guard.pid"',
    "while sleep 1; do",
    '  [ -e "$G/armed" ] || exit 0',
    "  busy=",
    '  for b in "$G"/busy/*; do [ -e "$b" ] && kill -0 "${b##*/}" 2>/dev/null && busy=yes; done',
    '  [ -z "$busy" ] || continue',
    `  [ $(($(date +%s) - $(cat "$G/touched"))) -ge ${afterSeconds} ] || continue`,
    "  # Whoever makes this folder first, the guard or the confirmation, wins.",
    '  mkdir "$G/firing" 2>/dev/null || exit 0',
    '  exec /bin/sh "$G/rollback.sh"',
    "done",
    "",
  ].join("\n");
}

/** What rolls the box back; `--files-only` (the boot runner) stops after putting the files back. */
export function renderRollback(): string {
  const S = STATE_DIR;
  return [
    "#!/bin/sh",
    "# multiwan: puts the gateway back as it was before an unconfirmed pulumi run.",
    "set -u",
    "export LC_ALL=C",
    `G=${GUARD_DIR}`,
    `S=${S}`,
    'log() { echo "multiwan rollback: $*" >&2; command -v logger >/dev/null && logger -t multiwan "rollback: $*" 2>/dev/null; return 0; }',
    "# The resources the run changed: a record or copy that is not the snapshot's.",
    "changed() {",
    `  for f in "$S"/remove.d/*.sh "$S"/apply.d/*.sh "$G"/etc/remove.d/*.sh "$G"/etc/apply.d/*.sh; do`,
    '    [ -e "$f" ] && echo "${f##*/}"',
    "  done | sort -u | while read -r n; do",
    `    if ! { cmp -s "$S/remove.d/$n" "$G/etc/remove.d/$n" && cmp -s "$S/apply.d/$n" "$G/etc/apply.d/$n"; }; then echo "$n"; fi`,
    "  done",
    "}",
    'if [ "${1:-}" != --files-only ]; then',
    '  log "the run was not confirmed in time: undoing it"',
    '  changed >"$G/changed"',
    `  sort -r "$G/changed" | while read -r n; do`,
    // GatewayHost's own record would undo every resource: its sysctls and files come back in steps 2 and 3.
    `    if [ "$n" = ${HOST_RECORD} ] || [ ! -e "$S/remove.d/$n" ]; then continue; fi`,
    '    log "undo $n"',
    '    sh "$S/remove.d/$n" </dev/null || log "undo $n failed; continuing"',
    "  done",
    "  # Every sysctl either side saved an original of, back to its value at arming.",
    `  for f in "$S"/sysctl/* "$G"/etc/sysctl/*; do`,
    '    [ -e "$f" ] || continue',
    `    p=/$(printf '%s' "\${f##*/}" | tr : /)`,
    `    v=$(awk -v p="$p:" 'index($0, p) == 1 { print substr($0, length(p) + 1); exit }' "$G/sysctl.txt")`,
    '    [ -z "$v" ] || [ ! -e "$p" ] || [ "$(cat "$p")" = "$v" ] || { log "sysctl $p=$v"; echo "$v" >"$p"; }',
    "  done",
    "fi",
    'log "putting back the files of the last confirmed run"',
    `rm -rf "$S"`,
    `[ ! -d "$G/etc" ] || cp -pR "$G/etc" "$S"`,
    `for p in ${GUARDED_FILES.join(" ")}; do`,
    '  rm -f "$p"',
    '  if [ -e "$G/files$p" ] || [ -L "$G/files$p" ]; then mkdir -p "${p%/*}"; cp -pP "$G/files$p" "$p"; fi',
    "done",
    `[ ! -e "$G/absent-dirs" ] || while read -r d; do rmdir "$d" 2>/dev/null; done <"$G/absent-dirs"`,
    "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then systemctl daemon-reload; fi",
    'if [ "${1:-}" != --files-only ]; then',
    `  while read -r n; do`,
    `    [ -e "$S/apply.d/$n" ] || continue`,
    '    log "apply $n"',
    '    sh "$S/apply.d/$n" </dev/null || log "apply $n failed; continuing"',
    '  done <"$G/changed"',
    "fi",
    `rm -rf "$G"`,
    `rmdir ${GUARD_PARENT} 2>/dev/null`,
    'log "done: the gateway is as before the run"',
    "exit 0",
    "",
  ].join("\n");
}

/**
 * Arms the guard (run after the preflight, before any change). A guard that
 * an earlier, unconfirmed run left keeps its snapshot: that is still the last
 * confirmed state; one that is rolling back now is waited for.
 */
export function renderArm(afterSeconds: number): string[] {
  const dirs = [...new Set(GUARDED_FILES.map(parentOf))];
  return [
    `G=${GUARD_DIR}`,
    'mw_w=0; while [ -d "$G/firing" ] && [ "$mw_w" -lt 120 ]; do sleep 1; mw_w=$((mw_w + 1)); done',
    'if [ -e "$G/armed" ] && [ ! -d "$G/firing" ] && [ -e "$G/guard.pid" ] && kill -0 "$(cat "$G/guard.pid")" 2>/dev/null; then',
    `  date +%s >"$G/touched"; echo "multiwan: armed (an earlier run's guard, still unconfirmed)"; exit 0`,
    "fi",
    // An armed snapshot without its sleeper (the box rebooted and the runner did not run): roll it back first.
    'if [ -e "$G/armed" ]; then /bin/sh "$G/rollback.sh" || true; fi',
    'rm -rf "$G"',
    'mkdir -p "$G/busy" || exit 1',
    `[ ! -d ${STATE_DIR} ] || cp -pR ${STATE_DIR} "$G/etc" || exit 1`,
    `for p in ${GUARDED_FILES.join(" ")}; do`,
    '  if [ -e "$p" ] || [ -L "$p" ]; then mkdir -p "$G/files${p%/*}" && cp -pP "$p" "$G/files$p" || exit 1; fi',
    "done",
    `for d in ${dirs.join(" ")}; do [ -d "$d" ] || echo "$d" >>"$G/absent-dirs"; done`,
    'grep -s . /proc/sys/net/ipv4/* /proc/sys/net/ipv4/conf/*/* >"$G/sysctl.txt"',
    `cat >"$G/rollback.sh" <<'MULTIWAN_ROLLBACK'`,
    renderRollback().trimEnd(),
    "MULTIWAN_ROLLBACK",
    `cat >"$G/guard.sh" <<'MULTIWAN_GUARD'`,
    guardScript(afterSeconds).trimEnd(),
    "MULTIWAN_GUARD",
    'date +%s >"$G/touched"',
    `echo ${afterSeconds} >"$G/armed"`,
    "if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null; then",
    `  systemd-run --quiet --collect --unit=${GUARD_UNIT} /bin/sh "$G/guard.sh" || exit 1`,
    "else",
    '  setsid /bin/sh "$G/guard.sh" </dev/null >/dev/null 2>&1 &',
    "fi",
    'echo "multiwan: armed"',
  ];
}

/**
 * The first lines of every change script while a guard is armed: the change
 * is working (its pid, so the guard waits for it) and the countdown restarts
 * when it ends, whichever way.
 */
export function holdPrefix(): string {
  return [
    `if [ -e ${ARMED} ]; then`,
    `  echo $$ >${GUARD_DIR}/busy/$$; date +%s >${GUARD_DIR}/touched`,
    `  trap 'date +%s >${GUARD_DIR}/touched; rm -f ${GUARD_DIR}/busy/$$' EXIT`,
    "fi",
    "",
  ].join("\n");
}

/** Disarms: exits 3 when the guard has already begun rolling back, 4 when it is gone (rolled back, or a reboot). */
export function renderConfirm(): string {
  return [
    "export LC_ALL=C",
    `G=${GUARD_DIR}`,
    '[ -e "$G/armed" ] || { echo "no guard is armed: the box already rolled back this run" >&2; exit 4; }',
    'mkdir "$G/firing" 2>/dev/null || { echo "the guard is already rolling the box back" >&2; exit 3; }',
    '[ ! -e "$G/guard.pid" ] || kill "$(cat "$G/guard.pid")" 2>/dev/null',
    `if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then systemctl stop ${GUARD_UNIT} 2>/dev/null; fi`,
    'rm -rf "$G"',
    `rmdir ${GUARD_PARENT} 2>/dev/null`,
    "exit 0",
    "",
  ].join("\n");
}

/** The boot runner's check: an armed snapshot at boot is a run that was never confirmed. */
export function bootRollbackLines(): string[] {
  return [
    `if [ -e ${ARMED} ] && mkdir ${GUARD_DIR}/firing 2>/dev/null; then`,
    `  echo "multiwan: the last run was never confirmed: using the copies from before it" >&2`,
    `  /bin/sh ${ROLLBACK_SCRIPT} --files-only`,
    "fi",
  ];
}
