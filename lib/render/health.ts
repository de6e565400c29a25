// The uplink health monitor (design §9): the POSIX sh script that runs on
// the gateway as multiwan-health.service, its configuration, and its unit.
// The script is the same on every gateway; what differs is in the
// configuration, which the HealthMonitor resource renders from its entry.
import type { HealthMonitorEntry } from "../kinds/healthMonitor";
import { renderServiceUnit } from "./boot";
import { HEALTH_STATE_DIR, RUN_DIR, STATE_DIR, WEIGHTS_FILE } from "./paths";
import { sh } from "./shell";

export const HEALTH_SCRIPT = `${STATE_DIR}/health.sh`;
export const HEALTH_CONF = `${STATE_DIR}/health.conf`;
/** Executables here run on every transition with UPLINK and STATE in the environment. */
export const HEALTH_HOOKS = `${STATE_DIR}/hooks.d`;
export const HEALTH_JSON = `${RUN_DIR}/health.json`;
export const HEALTH_PID = `${RUN_DIR}/health.pid`;
/** Files the monitor keeps in RUN_DIR besides the state files (removed with it). */
export const HEALTH_RUN_FILES = [HEALTH_JSON, HEALTH_PID, `${RUN_DIR}/health.probes`, `${RUN_DIR}/health.events`];
export const HEALTH_UNIT_NAME = "multiwan-health.service";
export const HEALTH_UNIT_FILE = `/etc/systemd/system/${HEALTH_UNIT_NAME}`;
export const HEALTH_UNIT_WANTS = `/etc/systemd/system/multi-user.target.wants/${HEALTH_UNIT_NAME}`;
export const HEALTH_EXEC_START = `/bin/sh ${HEALTH_SCRIPT}`;

/** ping's -i and -W take seconds: 500 -> "0.5". */
const seconds = (ms: number) => String(ms / 1000);

/** The monitor's configuration: sh assignments of validated values, one uplink per block. */
export function renderHealthConfig(e: HealthMonitorEntry): string {
  return [
    "# multiwan: the health monitor's configuration (written by pulumi up; read when the monitor starts).",
    "# shellcheck disable=SC2034 # read by health.sh",
    `interval_ms=${e.intervalMs}`,
    `interval_s=${seconds(e.intervalMs)}`,
    `timeout_s=${seconds(e.timeoutMs)}`,
    `timeout_us=${e.timeoutMs * 1000}`,
    `down_after=${e.downAfter}`,
    `up_after=${e.upAfter}`,
    `table=${e.table}`,
    `protocol=${e.protocol}`,
    `n=${e.uplinks.length}`,
    `nprobes=${e.uplinks.reduce((sum, u) => sum + u.targets.length, 0)}`,
    ...e.uplinks.flatMap((u, index) => {
      const i = index + 1;
      return [
        `# ${u.name}: its fallback pinned routes move to the healthy uplinks while it is down`,
        `name_${i}=${sh(u.name)} dev_${i}=${sh(u.interface)} addr_${i}=${sh(u.address)} via_${i}=${sh(u.gateway)} mark_${i}=0x${u.mark.toString(16)}/0x${u.mask.toString(16)}`,
        `ntargets_${i}=${u.targets.length} ${u.targets.map((t, j) => `target_${i}_${j + 1}=${sh(t)}`).join(" ")}`,
        `pinned_${i}=${sh(u.fallback.join(" ")) || "''"}`,
      ];
    }),
    "",
  ].join("\n");
}

export function renderHealthUnit(): string {
  return renderServiceUnit("uplink health monitor (takes a dead uplink out of the multipath route)", HEALTH_EXEC_START);
}

/** The monitor itself. POSIX sh, iproute2, iputils ping, conntrack: what a Debian or Ubuntu gateway has. */
export function renderHealthMonitor(): string {
  return String.raw`#!/bin/sh
# multiwan: the uplink health monitor, run by ${HEALTH_UNIT_NAME}
# (installed by pulumi up, removed by pulumi destroy; design §9).
#
# dpinger's model: one long-running "ping -O" per uplink and target, with the
# uplink's address as its source, so the uplink's "from <address>" rule sends
# it out through that uplink's modem. Every reply or "no answer yet" line is
# one probe. An uplink is down after down_after rounds in a row in which no
# target answered, and up again after up_after answers in a row (flap
# damping). On a change the monitor replaces the multipath default with the
# healthy uplinks (weights kept; one atomic "ip route replace"), moves the
# uplink's fallback pinned routes to that set, drops the dead uplink's marked
# connections so their clients reconnect at once, logs one line and runs the
# hooks in ${HEALTH_HOOKS}. When every uplink is down it keeps them all.
#
# Pulumi and the monitor share the truth through files: the desired state in
# ${HEALTH_CONF}, the verdicts in ${HEALTH_STATE_DIR}/<uplink> ("down <epoch>"),
# which the multipath and pinned-route resources read, so "pulumi up" during
# an outage never revives a dead nexthop. ${HEALTH_JSON} is for people.
# The configuration and eval (uplink and target indexes in the names) set most variables:
# shellcheck disable=SC2154
set -u
export LC_ALL=C
CONF=${"$"}{MULTIWAN_HEALTH_CONF:-${HEALTH_CONF}}
RUN=${"$"}{MULTIWAN_RUN:-${RUN_DIR}}
WEIGHTS=${"$"}{MULTIWAN_WEIGHTS:-${WEIGHTS_FILE}}
HOOKS=${"$"}{MULTIWAN_HOOKS:-${HEALTH_HOOKS}}
# shellcheck source=/dev/null
. "$CONF"

log() { printf 'multiwan-health: %s\n' "$*" >&2; }
now() { date +%s; }

mkdir -p "$RUN/state" || exit 1
# A monitor that was killed (SIGKILL) leaves its probe readers behind: stop them.
if [ -r "$RUN/health.probes" ]; then
  while read -r p; do
    case $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) in *health.sh*) kill "$p" 2>/dev/null ;; esac
  done <"$RUN/health.probes"
fi
echo $$ >"$RUN/health.pid"
: >"$RUN/health.probes"
events=$RUN/health.events
rm -f "$events"
mkfifo "$events" || exit 1
# Read and write: the main loop never sees end-of-file when a probe restarts.
exec 3<>"$events"

# One ping's output -> one event per probe on fd 3:
# "<uplink> <target> ok <rtt in µs>", "<uplink> <target> lost", or "... exited".
read_probe() {
  while IFS= read -r line; do
    case $line in
      *"(DUP!)"*) ;;
      *" bytes from "*" time="*)
        t=${"$"}{line##* time=}
        t=${"$"}{t%% *}
        ms=${"$"}{t%%.*}
        fr=${"$"}{t#"$ms"}
        fr=${"$"}{fr#.}000
        fr=${"$"}{fr%"${"$"}{fr#???}"}
        us=$((ms * 1000 + 1$fr - 1000))
        # A reply later than the timeout counts as lost.
        if [ "$us" -le "$timeout_us" ]; then echo "$1 $2 ok $us"; else echo "$1 $2 lost"; fi
        ;;
      *"no answer yet"* | *nreachable* | "ping: "*) echo "$1 $2 lost" ;;
    esac
  done
  echo "$1 $2 exited"
}

# $1 uplink index, $2 target index, $3 seconds to wait first (a restart).
start_probe() {
  eval "p_src=\$addr_$1 p_dst=\$target_$1_$2"
  {
    [ "$3" = 0 ] || sleep "$3"
    exec ping -n -O -i "$interval_s" -W "$timeout_s" -I "$p_src" "$p_dst"
  } 2>&1 </dev/null | read_probe "$1" "$2" >&3 &
  echo $! >>"$RUN/health.probes"
}

# The desired weights are MultipathDefaultRoute's (${WEIGHTS_FILE}, "<uplink>
# <weight>" per line), read afresh each time, so a weight change needs no restart.
load_weights() {
  k=1
  while [ "$k" -le "$n" ]; do
    eval "l_n=\$name_$k"
    # shellcheck disable=SC2034 # read through the eval below
    l_w=$(awk -v n="$l_n" '$1 == n { print $2 }' "$WEIGHTS" 2>/dev/null)
    eval "weight_$k=\${l_w:-1}"
    k=$((k + 1))
  done
}

# The multipath default over the uplinks that are up (all of them when none is).
set_route() {
  load_weights
  r_hops='' r_live='' k=1
  while [ "$k" -le "$n" ]; do
    eval "r_s=\$state_$k r_v=\$via_$k r_d=\$dev_$k r_w=\$weight_$k r_n=\$name_$k"
    if [ "$r_s" = up ]; then
      r_hops="$r_hops nexthop via $r_v dev $r_d weight $r_w"
      r_live="$r_live $r_n"
    fi
    k=$((k + 1))
  done
  if [ -z "$r_hops" ]; then
    k=1
    while [ "$k" -le "$n" ]; do
      eval "r_hops=\"\$r_hops nexthop via \$via_$k dev \$dev_$k weight \$weight_$k\""
      k=$((k + 1))
    done
    r_live=" every uplink (all are down: keeping them all)"
  fi
  if [ -z "$(ip route show table "$table" proto "$protocol" default 2>/dev/null)" ]; then
    r_live=" nothing: table $table has no multipath default yet"
    return 0
  fi
  # shellcheck disable=SC2086 # split on purpose: validated nexthop words
  ip route replace default table "$table" proto "$protocol" $r_hops || r_live=" unchanged: ip route replace failed"
}

write_status() {
  load_weights
  w_out="{\"updated\":$(now),\"intervalMs\":$interval_ms,\"downAfter\":$down_after,\"upAfter\":$up_after,\"uplinks\":["
  w_sep='' k=1
  while [ "$k" -le "$n" ]; do
    eval "w_n=\$name_$k w_s=\$state_$k w_since=\$since_$k w_h=\$hist_$k w_l=\$lost_$k w_r=\$rtt_$k w_w=\$weight_$k"
    w_loss=null
    [ -z "$w_h" ] || w_loss=$((w_l * 100 / ${"$"}{#w_h}))
    w_rtt=null
    [ -z "$w_r" ] || w_rtt=$((w_r / 1000)).$(printf '%03d' $((w_r % 1000)))
    w_out="$w_out$w_sep{\"name\":\"$w_n\",\"state\":\"$w_s\",\"since\":$w_since,\"lossPercent\":$w_loss,\"rttMs\":$w_rtt,\"weight\":$w_w}"
    w_sep=,
    k=$((k + 1))
  done
  printf '%s]}\n' "$w_out" >"$RUN/health.json.tmp" && mv -f "$RUN/health.json.tmp" "$RUN/health.json"
}

run_hooks() {
  [ -d "$HOOKS" ] || return 0
  for h in "$HOOKS"/*; do
    if [ -f "$h" ] && [ -x "$h" ]; then UPLINK=$1 STATE=$2 "$h" </dev/null >&2 3>&- & fi
  done
}

# $1 uplink index, $2 the new state.
transition() {
  eval "x_n=\$name_$1 x_d=\$dev_$1 x_v=\$via_$1 x_m=\$mark_$1 x_p=\$pinned_$1"
  x_t=$(now)
  eval "state_$1=$2 since_$1=$x_t"
  echo "$2 $x_t" >"$RUN/state/$x_n.tmp" && mv -f "$RUN/state/$x_n.tmp" "$RUN/state/$x_n"
  set_route
  # One ip -batch for all of them, not one ip each: a site may pin thousands.
  # -force goes on past a line that fails (a route already gone when down).
  if [ "$2" = down ]; then
    for x_dst in $x_p; do echo "route del $x_dst table $table proto $protocol dev $x_d"; done | ip -force -batch - 2>/dev/null
  else
    for x_dst in $x_p; do echo "route replace $x_dst via $x_v dev $x_d table $table proto $protocol"; done | ip -force -batch -
  fi
  x_moved=0
  for x_dst in $x_p; do x_moved=$((x_moved + 1)); done
  if [ "$2" = down ]; then
    # Only this uplink's connections: the others keep theirs (design §8).
    conntrack -D --mark "$x_m" >/dev/null 2>&1
    log "$x_n down: no target answered in $down_after rounds; multipath now over$r_live; $x_moved fallback pinned route(s) moved to it; $x_n's connections (mark $x_m) dropped"
  else
    log "$x_n up: $up_after answers in a row; multipath now over$r_live; $x_moved fallback pinned route(s) back on $x_n"
  fi
  write_status
  run_hooks "$x_n" "$2"
}

# $1 uplink index, $2 target index, $3 ok|lost|exited, $4 rtt in µs.
handle() {
  case $3 in
    ok)
      eval "lr_$1_$2=0 or_$1_$2=\$((or_$1_$2 + 1))"
      eval "e_r=\$rtt_$1"
      # A smoothed round-trip time, like ping's own average but recent.
      if [ -z "$e_r" ]; then e_r=$4; else e_r=$(((e_r * 3 + $4) / 4)); fi
      eval "rtt_$1=$e_r"
      e_bit=0
      ;;
    *)
      eval "or_$1_$2=0 lr_$1_$2=\$((lr_$1_$2 + 1))"
      e_bit=1
      # ping itself ended (the address went away?): start it again in a second.
      [ "$3" != exited ] || start_probe "$1" "$2" 1
      ;;
  esac
  # Loss over the uplink's last 20 probes.
  eval "e_h=\$hist_$1 e_l=\$lost_$1"
  e_h=$e_h$e_bit
  e_l=$((e_l + e_bit))
  if [ ${"$"}{#e_h} -gt 20 ]; then
    e_l=$((e_l - ${"$"}{e_h%"${"$"}{e_h#?}"}))
    e_h=${"$"}{e_h#?}
  fi
  eval "hist_$1=$e_h lost_$1=$e_l"
  # A failed round: every target lost its probe. Down when the shortest run
  # of losses reaches down_after; up when any target answered up_after in a row.
  eval "e_s=\$state_$1 e_nt=\$ntargets_$1"
  e_minlost=1000000 e_maxok=0 j=1
  while [ "$j" -le "$e_nt" ]; do
    eval "e_a=\$lr_$1_$j e_b=\$or_$1_$j"
    [ "$e_a" -ge "$e_minlost" ] || e_minlost=$e_a
    [ "$e_b" -le "$e_maxok" ] || e_maxok=$e_b
    j=$((j + 1))
  done
  if [ "$e_s" = up ] && [ "$e_minlost" -ge "$down_after" ]; then
    transition "$1" down
  elif [ "$e_s" = down ] && [ "$e_maxok" -ge "$up_after" ]; then
    transition "$1" up
  fi
}

stop() {
  trap - TERM INT HUP
  while read -r p; do kill "$p" 2>/dev/null; done <"$RUN/health.probes"
  rm -f "$RUN/health.probes" "$RUN/health.pid" "$events"
  exit 0
}
trap stop TERM INT HUP

# A restart keeps the verdicts: an uplink that was down stays down until it has answered up_after times.
i=1 any_down=
while [ "$i" -le "$n" ]; do
  eval "s_n=\$name_$i s_nt=\$ntargets_$i"
  s_s=up s_t=$(now)
  if [ -r "$RUN/state/$s_n" ]; then read -r s_s s_t <"$RUN/state/$s_n"; fi
  [ "$s_s" = down ] && any_down=1 || s_s=up
  eval "state_$i=$s_s since_$i=$s_t hist_$i= lost_$i=0 rtt_$i="
  echo "$s_s $s_t" >"$RUN/state/$s_n"
  j=1
  while [ "$j" -le "$s_nt" ]; do
    eval "lr_${"$"}{i}_$j=0 or_${"$"}{i}_$j=0"
    start_probe "$i" "$j" 0
    j=$((j + 1))
  done
  i=$((i + 1))
done
[ -z "$any_down" ] || set_route
write_status
log "watching $n uplink(s), $nprobes probe(s) every $interval_ms ms; down after $down_after failed rounds, up after $up_after answers"

count=0
while read -r ev_i ev_j ev_what ev_us <&3; do
  handle "$ev_i" "$ev_j" "$ev_what" "${"$"}{ev_us:-0}"
  count=$((count + 1))
  if [ "$count" -ge "$nprobes" ]; then
    write_status
    count=0
  fi
done
`;
}
