// LeaseWatcher: what makes a DHCP uplink follow its lease on the box (design
// §11), one per site that has DHCP uplinks. It installs /etc/multiwan/dhcp.sh
// (re-applies the boot copies that read a lease), its configuration, and
// multiwan-dhcp.service, whose `ip -o monitor address route` listener runs
// dhcp.sh within a moment of a new address, a new gateway or a lost lease.
// The current leases are reported in the `health` output, never as drift.
import { z } from "zod";
import { leaseOf, leaseStatus } from "../facts/lease";
import { factLines } from "../facts/sections";
import {
  DHCP_CONF,
  DHCP_PID,
  DHCP_SCRIPT,
  DHCP_UNIT_FILE,
  DHCP_UNIT_NAME,
  DHCP_UNIT_WANTS,
  DHCP_WATCH,
  LEASE_DIR,
  renderDhcpConfig,
  renderDhcpScript,
  renderDhcpUnit,
  renderDhcpWatch,
} from "../render/dhcp";
import { RUN_DIR } from "../render/paths";
import { sh } from "../render/shell";
import type { Kind } from "./kind";
import { type ServiceFiles, startService, stopService } from "./service";
import { interfaceAddress, interfaceName, ipv4, protocolNumber, uplinkName } from "./fields";

export const leaseWatcherSchema = z.strictObject({
  protocol: protocolNumber,
  /** The DHCP uplinks; a configured gateway is used instead of the learned one. */
  uplinks: z.array(z.strictObject({ name: uplinkName, interface: interfaceName, gateway: ipv4.optional() })).min(1),
  /** The static subnets (the LAN's, static uplinks'): a lease that overlaps one is logged, as validation words it. */
  subnets: z.array(z.strictObject({ label: z.string().regex(/^[A-Za-z0-9 _-]+$/), prefix: interfaceAddress })),
});
export type LeaseWatcherEntry = z.infer<typeof leaseWatcherSchema>;

const FILES = [DHCP_SCRIPT, DHCP_WATCH, DHCP_CONF];
const SERVICE: ServiceFiles = {
  what: "watcher",
  changes: "scripts or configuration",
  unitName: DHCP_UNIT_NAME,
  unitFile: DHCP_UNIT_FILE,
  unitWants: DHCP_UNIT_WANTS,
  unit: renderDhcpUnit(),
  pidFile: DHCP_PID,
};
const configLines = (e: LeaseWatcherEntry) =>
  renderDhcpConfig(e)
    .split("\n")
    .filter((l) => l && !l.startsWith("#"));

function apply(e: LeaseWatcherEntry): string[] {
  return [
    `step "check the tools"`,
    `command -v mkfifo >/dev/null || die "mkfifo is not installed (Debian/Ubuntu: coreutils); the DHCP watcher needs it"`,
    "",
    `step "install ${DHCP_SCRIPT}, the watcher ${DHCP_WATCH} and ${DHCP_CONF}"`,
    `mw_before=$(cat ${FILES.join(" ")} 2>/dev/null | cksum)`,
    `write_file ${DHCP_SCRIPT} <<'MULTIWAN_DHCP'`,
    renderDhcpScript().trimEnd(),
    `MULTIWAN_DHCP`,
    `write_file ${DHCP_WATCH} <<'MULTIWAN_DHCP'`,
    renderDhcpWatch(e).trimEnd(),
    `MULTIWAN_DHCP`,
    `write_file ${DHCP_CONF} <<'EOF'`,
    renderDhcpConfig(e).trimEnd(),
    `EOF`,
    `mw_changed=`,
    `[ "$(cat ${FILES.join(" ")} | cksum)" = "$mw_before" ] || mw_changed=1`,
    "",
    ...startService(SERVICE),
  ];
}

function remove(e: LeaseWatcherEntry): string[] {
  return [
    ...stopService(SERVICE),
    "",
    // The DHCP client's own addresses and routes are not ours: nothing of them is touched.
    `step "remove the watcher's files (the DHCP client's addresses and routes stay as they are)"`,
    ...[...e.uplinks.map((u) => `${LEASE_DIR}/${u.name}`), DHCP_PID, ...FILES].map((f) => `[ ! -e ${f} ] || run rm -f ${f}`),
    `[ ! -d ${LEASE_DIR} ] || rmdir ${LEASE_DIR} 2>/dev/null || true`,
    `[ ! -d ${RUN_DIR} ] || rmdir ${RUN_DIR} 2>/dev/null || true`,
  ];
}

export const leaseWatcher: Kind<LeaseWatcherEntry> = {
  schema: leaseWatcherSchema,
  key: () => "dhcp",
  id: () => "dhcp-watcher",
  replaceOn: [],
  // After everything it re-applies.
  bootOrder: 85,
  // The routes and rules it re-applies are those of the boot copies (RoutingTable, PolicyRule, ...).
  owns: () => [],
  title: (e) => `LeaseWatcher (${e.uplinks.map((u) => `${u.name} on ${u.interface}`).join(", ")})`,
  apply,
  remove,
  read: (e) => [
    `mw_files() { for f in ${FILES.join(" ")}; do [ ! -e "$f" ] || echo "$f"; done; }`,
    `fact files mw_files`,
    `fact config cat ${DHCP_CONF}`,
    ...e.uplinks.map((u) => `fact lease-${u.interface} mw_lease ${sh(u.interface)}`),
    `mw_watcher() { if mw_pid=$(cat ${DHCP_PID} 2>/dev/null) && kill -0 "$mw_pid" 2>/dev/null; then echo "running $mw_pid"; else echo stopped; fi; }`,
    `fact watcher mw_watcher`,
  ],
  expected: (e) => [...FILES.map((f) => `file ${f}`), ...configLines(e).map((l) => `config ${l}`)],
  parse: (facts) => [
    ...factLines(facts, "files").map((l) => `file ${l}`),
    ...factLines(facts, "config")
      .filter((l) => !l.startsWith("#"))
      .map((l) => `config ${l}`),
  ],
  // The current lease of each DHCP uplink: status, not drift.
  health: (facts, e) => [
    ...e.uplinks.map((u) => leaseStatus(u.name, leaseOf(facts, u.interface))),
    ...factLines(facts, "watcher").map((l) => (l.startsWith("running ") ? `watcher running (pid ${l.slice(8)})` : "watcher not running")),
  ],
};
