// HealthMonitor: the uplink health monitor (design §9) as one resource. It
// installs the monitor script, its configuration (the uplinks, their probes and
// fallback pinned routes; the desired weights are MultipathDefaultRoute's,
// in WEIGHTS_FILE, so a weight change never touches the monitor)
// and multiwan-health.service; remove stops the monitor, gives back what it
// took out during an outage, and deletes its files. Its live verdicts are
// reported in the `health` output, never as drift.
import { z } from "zod";
import { factLines } from "../facts/sections";
import { healthLines } from "../facts/health";
import {
  HEALTH_CONF,
  HEALTH_PID,
  HEALTH_RUN_FILES,
  HEALTH_SCRIPT,
  HEALTH_UNIT_FILE,
  HEALTH_UNIT_NAME,
  HEALTH_UNIT_WANTS,
  renderHealthConfig,
  renderHealthMonitor,
  renderHealthUnit,
} from "../render/health";
import { HEALTH_STATE_DIR, RUN_DIR, WEIGHTS_FILE } from "../render/paths";
import { sh } from "../render/shell";
import type { Kind } from "./kind";
import { type ServiceFiles, startService, stopService } from "./service";
import { interfaceName, ipv4, protocolNumber, routeDestination, tableId, uplinkName } from "./fields";

const mark = z.number().int().min(1).max(0xffffffff);
const ms = z.number().int().min(100).max(10000);

const watched = z.strictObject({
  name: uplinkName,
  interface: interfaceName,
  /** The uplink's own address: the probes' source, so its policy rule routes them out through it. */
  address: ipv4,
  gateway: ipv4,
  /** The uplink's connection mark and mask: `conntrack -D --mark` drops its connections when it goes down. */
  mark,
  mask: mark,
  targets: z.array(ipv4).min(1).max(4),
  /** Its pinned destinations that use the healthy uplinks while it is down. */
  fallback: z.array(routeDestination),
});

export const healthMonitorSchema = z.strictObject({
  /** The multipath table and the protocol of our routes. */
  table: tableId,
  protocol: protocolNumber,
  intervalMs: ms,
  timeoutMs: ms,
  downAfter: z.number().int().min(1).max(20),
  upAfter: z.number().int().min(1).max(50),
  uplinks: z.array(watched).min(1),
});
export type HealthMonitorEntry = z.infer<typeof healthMonitorSchema>;
export type WatchedUplink = z.infer<typeof watched>;

const FILES = [HEALTH_SCRIPT, HEALTH_CONF];
const SERVICE: ServiceFiles = {
  what: "monitor",
  changes: "script or configuration",
  unitName: HEALTH_UNIT_NAME,
  unitFile: HEALTH_UNIT_FILE,
  unitWants: HEALTH_UNIT_WANTS,
  unit: renderHealthUnit(),
  pidFile: HEALTH_PID,
};
/** Every nexthop at its desired weight, as MultipathDefaultRoute wrote it to WEIGHTS_FILE (1 if it is missing). */
const allHops = (e: HealthMonitorEntry) => [
  `mw_hops=`,
  ...e.uplinks.map(
    (u) =>
      `mw_w=$(awk -v n=${sh(u.name)} '$1 == n { print $2 }' ${WEIGHTS_FILE} 2>/dev/null); mw_hops="$mw_hops nexthop via ${sh(u.gateway)} dev ${sh(u.interface)} weight \${mw_w:-1}"`,
  ),
];
/** The config lines that carry meaning (what read compares). */
const configLines = (e: HealthMonitorEntry) =>
  renderHealthConfig(e)
    .split("\n")
    .filter((l) => l && !l.startsWith("#"));

function apply(e: HealthMonitorEntry): string[] {
  return [
    `step "check the tools"`,
    `command -v ping >/dev/null || die "ping is not installed (Debian/Ubuntu: apt-get install iputils-ping)"`,
    "",
    `step "install the monitor ${HEALTH_SCRIPT} and its configuration ${HEALTH_CONF}"`,
    `mw_before=$(cat ${FILES.join(" ")} 2>/dev/null | cksum)`,
    `write_file ${HEALTH_SCRIPT} <<'MULTIWAN_HEALTH'`,
    renderHealthMonitor().trimEnd(),
    `MULTIWAN_HEALTH`,
    `write_file ${HEALTH_CONF} <<'EOF'`,
    renderHealthConfig(e).trimEnd(),
    `EOF`,
    `mw_changed=`,
    `[ "$(cat ${FILES.join(" ")} | cksum)" = "$mw_before" ] || mw_changed=1`,
    "",
    // --no-block (in startService): at boot this runs inside multiwan.service, which the unit is ordered after.
    ...startService(SERVICE),
  ];
}

function remove(e: HealthMonitorEntry): string[] {
  return [
    // Without systemd, the supervisor finds no unit any more and does not start it again.
    ...stopService(SERVICE),
    "",
    `step "give back what the monitor took out for an outage: every nexthop, the fallback pinned routes"`,
    ...allHops(e),
    `if [ -n "$(mw_routes ${e.table} ${e.protocol} | grep '^default ' || true)" ]; then mw_multipath ${e.table} ${e.protocol} "$mw_hops"; fi`,
    ...e.uplinks
      .filter((u) => u.fallback.length > 0)
      .flatMap((u) => [
        `if mw_down ${sh(u.name)}; then`,
        `  ip_batch <<'EOF'`,
        ...u.fallback.map((d) => `route replace ${sh(d)} via ${sh(u.gateway)} dev ${sh(u.interface)} table ${e.table} proto ${e.protocol}`),
        `EOF`,
        `fi`,
      ]),
    "",
    `step "remove the monitor's files"`,
    ...[...e.uplinks.map((u) => `${HEALTH_STATE_DIR}/${u.name}`), ...HEALTH_RUN_FILES, ...FILES].map(
      (f) => `[ ! -e ${f} ] || run rm -f ${f}`,
    ),
    `[ ! -d ${HEALTH_STATE_DIR} ] || rmdir ${HEALTH_STATE_DIR} 2>/dev/null || true`,
    `[ ! -d ${RUN_DIR} ] || rmdir ${RUN_DIR} 2>/dev/null || true`,
  ];
}

export const healthMonitor: Kind<HealthMonitorEntry> = {
  schema: healthMonitorSchema,
  key: () => "health",
  id: () => "health-monitor",
  replaceOn: [],
  // After everything it adjusts: the multipath route and the pinned routes.
  bootOrder: 80,
  // It changes only the default route of the multipath table, MultipathDefaultRoute's claim.
  owns: () => [],
  title: (e) =>
    `HealthMonitor (${e.uplinks.length} uplinks, ${e.uplinks.reduce((s, u) => s + u.targets.length, 0)} probes every ${e.intervalMs} ms)`,
  apply,
  remove,
  read: (e) => [
    `mw_files() { for f in ${FILES.join(" ")}; do [ ! -e "$f" ] || echo "$f"; done; }`,
    `fact files mw_files`,
    `fact config cat ${HEALTH_CONF}`,
    `fact health mw_states ${e.uplinks.map((u) => sh(u.name)).join(" ")}`,
    `mw_monitor() { if mw_pid=$(cat ${HEALTH_PID} 2>/dev/null) && kill -0 "$mw_pid" 2>/dev/null; then echo "running $mw_pid"; else echo stopped; fi; }`,
    `fact monitor mw_monitor`,
  ],
  expected: (e) => [...FILES.map((f) => `file ${f}`), ...configLines(e).map((l) => `config ${l}`)],
  parse: (facts) => [
    ...factLines(facts, "files").map((l) => `file ${l}`),
    ...factLines(facts, "config")
      .filter((l) => !l.startsWith("#"))
      .map((l) => `config ${l}`),
  ],
  health: (facts) => [
    ...healthLines(facts),
    ...factLines(facts, "monitor").map((l) => (l.startsWith("running ") ? `monitor running (pid ${l.slice(8)})` : "monitor not running")),
  ],
};
