// Surviving a reboot. Routes, rules and NAT live in the kernel and vanish on
// reboot or when a link flaps, so every resource's apply script also keeps a
// copy of itself under /etc/multiwan/apply.d/, named so that sorting gives the
// dependency order. GatewayHost installs the runner: a systemd unit that, at
// boot, waits (bounded) for the interfaces and then runs those copies, and
// ifupdown / networkd-dispatcher hooks that run them again when a link of
// ours comes back up.
import type { GatewayHostEntry } from "../plan";
import { BOOT_DIR, STATE_DIR, UNDO_DIR } from "./paths";
import { LEASE } from "./lease";
import { bootRollbackLines } from "./rollback";
import { sh } from "./shell";

export { BOOT_DIR, UNDO_DIR } from "./paths";
export const BOOT_RUNNER = `${STATE_DIR}/boot.sh`;
export const UNIT_NAME = "multiwan.service";
export const UNIT_FILE = `/etc/systemd/system/${UNIT_NAME}`;
export const UNIT_WANTS = `/etc/systemd/system/multi-user.target.wants/${UNIT_NAME}`;
/** Hook folders of the network managers a Debian or Ubuntu gateway runs; a hook goes only where its folder exists. */
export const LINK_HOOKS = ["/etc/network/if-up.d/multiwan", "/etc/networkd-dispatcher/routable.d/50-multiwan"];
/** Seconds the boot runner waits for late interfaces (DHCP, USB modems) before it gives up. */
export const DEFAULT_WAIT_SECONDS = 120;

/** Where a resource's copy goes; the number orders the copies like the resources' dependencies. */
export function bootCopyPath(order: number, key: string): string {
  return `${BOOT_DIR}/${String(order).padStart(2, "0")}-${key}.sh`;
}

/** Where a resource keeps its remove script (same name as its boot copy). */
export function undoCopyPath(order: number, key: string): string {
  return `${UNDO_DIR}/${String(order).padStart(2, "0")}-${key}.sh`;
}

/** The steps that record `remove` (a whole script) at `path`, before anything changes. */
export function recordUndo(path: string, remove: string): string[] {
  return [
    `step "record how to undo this in ${path}"`,
    `run mkdir -p ${UNDO_DIR}`,
    `write_file ${path} <<'MULTIWAN_UNDO_COPY'`,
    remove.trimEnd(),
    `MULTIWAN_UNDO_COPY`,
  ];
}

/** The steps that keep `apply` (a whole script) as the boot copy at `path`. */
export function keepForBoot(path: string, apply: string): string[] {
  return [
    "",
    `step "keep this script for boot as ${path}"`,
    `run mkdir -p ${BOOT_DIR}`,
    `write_file ${path} <<'MULTIWAN_BOOT_COPY'`,
    apply.trimEnd(),
    `MULTIWAN_BOOT_COPY`,
  ];
}

export function forgetForBoot(path: string): string[] {
  return ["", `step "forget the boot copy ${path}"`, `[ ! -e ${path} ] || run rm -f ${path}`];
}

/** What ExecStart runs: wait for the interfaces, then every boot copy in order; one line per step for the journal. */
export function renderBootRunner(entry: GatewayHostEntry): string {
  return [
    "#!/bin/sh",
    "# multiwan: re-applies the gateway after a reboot or a link flap (installed by pulumi up, removed by destroy).",
    "# --no-wait: do not wait for missing interfaces (used by the link hooks).",
    "set -eu",
    "export LC_ALL=C",
    `wait_s=\${MULTIWAN_WAIT_SECONDS:-${DEFAULT_WAIT_SECONDS}}`,
    `[ "\${1:-}" != --no-wait ] || wait_s=0`,
    "# One run at a time: several links may come up together.",
    "if command -v flock >/dev/null; then exec 9>/run/multiwan.lock; flock 9; fi",
    ...bootRollbackLines(),
    "missing() {",
    ...entry.interfaces.map((i) =>
      i.address === LEASE
        ? // A DHCP uplink: any lease will do (design §11); dhcp.sh follows the next ones.
          `  ip -o -4 addr show dev ${sh(i.name)} scope global 2>/dev/null | grep -q " inet " || printf '%s ' ${sh(`${i.name} (a DHCP lease)`)}`
        : `  ip -o -4 addr show dev ${sh(i.name)} 2>/dev/null | tr -s ' ' | grep -q " inet ${i.address} " || printf '%s ' ${sh(`${i.name} (${i.address})`)}`,
    ),
    "}",
    "waited=0",
    'while gone=$(missing); [ -n "$gone" ]; do',
    '  if [ "$waited" -ge "$wait_s" ]; then echo "multiwan: gave up after ${waited}s; still missing: $gone" >&2; exit 1; fi',
    '  [ $((waited % 10)) -ne 0 ] || echo "multiwan: waiting for $gone" >&2',
    "  sleep 1",
    "  waited=$((waited + 1))",
    "done",
    `for f in ${BOOT_DIR}/*.sh; do`,
    '  [ -e "$f" ] || continue',
    '  echo "multiwan: applying ${f##*/}" >&2',
    '  sh "$f" || { echo "multiwan: ${f##*/} failed" >&2; exit 1; }',
    "done",
    'echo "multiwan: gateway applied" >&2',
    "",
  ].join("\n");
}

export function renderUnit(): string {
  return [
    "# multiwan: installed by pulumi up, removed by pulumi destroy.",
    "[Unit]",
    "Description=multiwan: re-apply the multi-WAN gateway (routes, rules, NAT)",
    "Wants=network-online.target",
    "After=network-online.target nftables.service",
    "",
    "[Service]",
    "Type=oneshot",
    "RemainAfterExit=yes",
    `ExecStart=/bin/sh ${BOOT_RUNNER}`,
    // An interface that is still missing after the bounded wait: try again later.
    "Restart=on-failure",
    "RestartSec=30",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/** ifupdown and networkd-dispatcher both name the interface in $IFACE. */
export function renderLinkHook(entry: GatewayHostEntry): string {
  return [
    "#!/bin/sh",
    "# multiwan: a link of the gateway came up: put its routes back (installed by pulumi up).",
    `case "\${IFACE:-}" in ${entry.interfaces.map((i) => sh(i.name)).join("|")}) exec /bin/sh ${BOOT_RUNNER} --no-wait ;; esac`,
    "",
  ].join("\n");
}

/** A long-running service of ours (health monitor, DHCP watcher): after the boot runner, restarted whenever it stops. */
export function renderServiceUnit(description: string, execStart: string): string {
  return [
    "# multiwan: installed by pulumi up, removed by pulumi destroy.",
    "[Unit]",
    `Description=multiwan: ${description}`,
    // The boot runner puts the routes back first; the service then only adjusts them.
    `After=${UNIT_NAME} network-online.target`,
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${execStart}`,
    "Restart=always",
    "RestartSec=1",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}
