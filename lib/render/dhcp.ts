// DHCP uplinks on the box (design §11): /etc/multiwan/dhcp.sh re-applies the
// boot copies that read a lease (tables, rules, the multipath route, pinned
// routes) under the boot runner's lock, and multiwan-dhcp.service runs
// dhcp-watch.sh, an `ip -o monitor address route` listener that calls it when
// a DHCP uplink's address or main-table routes change. Whichever client holds
// the lease (dhclient, systemd-networkd, udhcpc), the kernel sees the change.
import type { LeaseWatcherEntry } from "../kinds/leaseWatcher";
import { BOOT_DIR, renderServiceUnit } from "./boot";
import { RUN_DIR, STATE_DIR } from "./paths";
import { LIB_PATH } from "./shell";

export const DHCP_SCRIPT = `${STATE_DIR}/dhcp.sh`;
export const DHCP_WATCH = `${STATE_DIR}/dhcp-watch.sh`;
export const DHCP_CONF = `${STATE_DIR}/dhcp.conf`;
/** The last lease dhcp.sh saw per uplink ("<address>/<len> <subnet> <gateway>"), for its log line. */
export const LEASE_DIR = `${RUN_DIR}/lease`;
export const DHCP_PENDING = `${RUN_DIR}/dhcp.pending`;
export const DHCP_PID = `${RUN_DIR}/dhcp.pid`;
export const DHCP_UNIT_NAME = "multiwan-dhcp.service";
export const DHCP_UNIT_FILE = `/etc/systemd/system/${DHCP_UNIT_NAME}`;
export const DHCP_UNIT_WANTS = `/etc/systemd/system/multi-user.target.wants/${DHCP_UNIT_NAME}`;
export const DHCP_EXEC_START = `/bin/sh ${DHCP_WATCH}`;
/** Seconds the watcher waits after the first event of a change: a renewal is several netlink events. */
export const DEBOUNCE_S = "0.2";

/**
 * dhcp.conf: one "uplink <name> <interface> <gateway|->" line per DHCP
 * uplink, one "subnet <label> <prefix>" line per static subnet (the checks
 * validation deferred to the box compare the lease with them).
 */
export function renderDhcpConfig(e: LeaseWatcherEntry): string {
  return [
    "# multiwan: DHCP uplinks and the static subnets their leases are checked against (written by pulumi up).",
    ...e.uplinks.map((u) => `uplink ${u.name} ${u.interface} ${u.gateway ?? "-"}`),
    ...e.subnets.map((s) => `subnet ${s.label.replace(/ /g, "_")} ${s.prefix}`),
    "",
  ].join("\n");
}

export function renderDhcpUnit(): string {
  return renderServiceUnit("follow the DHCP leases of the uplinks (tables, rules, multipath route)", DHCP_EXEC_START);
}

/** dhcp.sh [uplink...]: checks the leases and re-applies every boot copy that reads one. */
export function renderDhcpScript(): string {
  return String.raw`#!/bin/sh
# multiwan: re-applies what follows a DHCP lease (installed by pulumi up; design §11).
# The boot copies in ${BOOT_DIR} that read a lease converge the
# uplink's table, its "from <address>" rule, its nexthop in the multipath route
# and its pinned routes to the lease there is now; without one the uplink is
# out. Checks that validation deferred (the leased subnet against the static
# ones, the gateway inside it) are made here and logged in validation's words.
set -u
export LC_ALL=C
CONF=${"$"}{MULTIWAN_DHCP_CONF:-${DHCP_CONF}}
# shellcheck source=/dev/null
. ${LIB_PATH}
set +e
log() { printf 'multiwan-dhcp: %s\n' "$*" >&2; }
ip2n() { printf '%s\n' "$1" | awk -F. '{ printf "%.0f\n", (($1 * 256 + $2) * 256 + $3) * 256 + $4 }'; }
# $1 a prefix: "<first> <last>" as numbers.
range() { printf '%s\n' "$1" | awk -F'[./]' '{ a = (($1 * 256 + $2) * 256 + $3) * 256 + $4; s = 2 ^ (32 - $5); n = int(a / s) * s; printf "%.0f %.0f\n", n, n + s - 1 }'; }

# One run at a time, shared with the boot runner.
if command -v flock >/dev/null; then exec 9>/run/multiwan.lock; flock 9; fi
mkdir -p ${LEASE_DIR}
grep '^uplink ' "$CONF" | while read -r _ name dev gw; do
  # shellcheck disable=SC2046 # split on purpose: "<address>/<len> <subnet> <gateway>"
  set -- $(mw_lease "$dev")
  [ "$gw" != - ] || gw=${"$"}{3:-}
  now="${"$"}{1:--} ${"$"}{2:--} ${"$"}{3:--}"
  was=$(cat ${LEASE_DIR}/"$name" 2>/dev/null || echo "- - -")
  [ "$now" != "$was" ] || continue
  echo "$now" >${LEASE_DIR}/"$name"
  if [ -z "${"$"}{1:-}" ]; then
    log "$name lost its lease on $dev (was: $was): out of the multipath set until it has one"
    continue
  fi
  log "$name has a new lease on $dev: $1 via ${"$"}{gw:-(no gateway yet)} (was: $was)"
  lo=$(range "$2" | cut -d' ' -f1) hi=$(range "$2" | cut -d' ' -f2)
  if [ -n "$gw" ]; then
    g=$(ip2n "$gw")
    if [ "$g" -lt "$lo" ] || [ "$g" -gt "$hi" ]; then log "$name: gateway: $gw is outside uplink $name's subnet $2"
    elif [ "$g" = "$(ip2n "${"$"}{1%/*}")" ]; then log "$name: gateway: $gw is uplink $name's own address; give the ISP router's address"; fi
  fi
  grep '^subnet ' "$CONF" | while read -r _ label prefix; do
    lo2=$(range "$prefix" | cut -d' ' -f1) hi2=$(range "$prefix" | cut -d' ' -f2)
    [ "$hi" -lt "$lo2" ] || [ "$hi2" -lt "$lo" ] || log "$name: address: $2 overlaps $(echo "$label" | tr _ ' ')'s subnet $prefix"
  done
done
applied=
for f in ${BOOT_DIR}/*.sh; do
  [ -e "$f" ] || continue
  # Those that read a lease (its step starts a line); not the watcher's own copy, which only quotes this script.
  grep -q '^step "read the DHCP lease of ' "$f" || continue
  # The changes ("+ ...") and failures go to the journal.
  { sh "$f" 2>&1 >/dev/null || echo "failed: ${"$"}{f##*/}"; } | grep -E '^\+ |failed' | sed 's/^/multiwan-dhcp:   /' >&2
  applied="$applied ${"$"}{f##*/}"
done
log "re-applied:${"$"}{applied:- nothing}"
`;
}

/** dhcp-watch.sh: re-runs dhcp.sh after a change of a DHCP uplink's address or main-table routes. */
export function renderDhcpWatch(e: LeaseWatcherEntry): string {
  const devs = e.uplinks.map((u) => u.interface);
  return String.raw`#!/bin/sh
# multiwan: watches the DHCP uplinks' leases, run by ${DHCP_UNIT_NAME} (installed by pulumi up).
# Every DHCP client changes the address and the default route in main through
# the kernel; ip monitor sees each change. Our own routes are in numbered tables
# and are ignored, so applying a lease does not trigger another run.
set -u
export LC_ALL=C
log() { printf 'multiwan-dhcp: %s\n' "$*" >&2; }
mkdir -p ${RUN_DIR}
rm -f ${DHCP_PENDING}
echo $$ >${DHCP_PID}
events=${RUN_DIR}/dhcp.events
rm -f "$events"
mkfifo "$events" || exit 1
ip -o monitor address route >"$events" &
monitor=$!
stop() { trap - TERM INT HUP; kill "$monitor" 2>/dev/null; rm -f "$events" ${DHCP_PID} ${DHCP_PENDING}; exit 0; }
trap stop TERM INT HUP
log "watching ${devs.join(", ")}"
# Apply what happened while nobody watched.
sh ${DHCP_SCRIPT}
while IFS= read -r line; do
  line=$(printf '%s\n' "$line" | tr '\t\\' '  ')
  case " $line " in *" table "*) continue ;; esac
  case " $line " in
    ${devs.map((d) => `*" ${d} "*`).join(" | ")})
      # A burst of events (address, routes) is one run, a moment after the first.
      if [ ! -e ${DHCP_PENDING} ]; then
        : >${DHCP_PENDING}
        (sleep ${DEBOUNCE_S}; rm -f ${DHCP_PENDING}; sh ${DHCP_SCRIPT}) &
      fi
      ;;
  esac
done <"$events"
log "ip monitor ended"
stop
`;
}
