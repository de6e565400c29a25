// GatewayHost: the host-wide settings every other resource relies on —
// sysctls (originals saved, restored on delete), the table names, the
// shared shell library, and the boot runner that re-applies everything
// after a reboot or a link flap.
import { z } from "zod";
import { LEASE } from "../render/lease";
import { factLines } from "../facts/sections";
import {
  BOOT_DIR,
  BOOT_RUNNER,
  LINK_HOOKS,
  UNDO_DIR,
  UNIT_FILE,
  UNIT_WANTS,
  renderBootRunner,
  renderLinkHook,
  renderUnit,
  undoCopyPath,
} from "../render/boot";
import { STATE_DIR } from "../render/paths";
import { LIB_PATH, PRELUDE, sh } from "../render/shell";
import type { Kind } from "./kind";
import { SYSTEMD_RUNNING } from "./service";
import { interfaceAddress, interfaceName, protocolNumber, tableId, uplinkName } from "./fields";

/**
 * A sysctl as `sysctl` names it: dots between the parts, and "/" for a dot
 * inside an interface name (net.ipv4.conf.eth1/7.rp_filter), so the /proc
 * path is the name with the two swapped.
 */
export function sysctlPath(name: string): string {
  return `/proc/sys/${name.replace(/[./]/g, (c) => (c === "." ? "/" : "."))}`;
}

const sysctlName = z
  .string()
  .regex(/^net\.ipv4\.[A-Za-z0-9_.=+/-]+$/, { error: "must be a net.ipv4 sysctl" })
  .refine(
    (n) =>
      sysctlPath(n)
        .split("/")
        .slice(1)
        .every((part) => part !== "" && part !== "." && part !== ".."),
    {
      error: "must name a file under /proc/sys/net/ipv4",
    },
  );
const sysctlValue = z.string().regex(/^[0-9]{1,3}$/, { error: "must be a small whole number" });

/** "101 isp1": a table id and its name, one line as rt_tables.d holds it (and a reviewer reads it). */
const tableNameLine = z.string().superRefine((line, ctx) => {
  const m = /^([0-9]+) (\S+)$/.exec(line);
  if (!m) {
    ctx.addIssue({ code: "custom", message: 'must be "<table id> <name>", e.g. "101 isp1"' });
    return;
  }
  for (const r of [tableId.safeParse(Number(m[1])), z.union([uplinkName, z.literal("multiwan")]).safeParse(m[2])]) {
    if (!r.success) ctx.addIssue({ code: "custom", message: `${line}: ${r.error.issues[0].message}` });
  }
});

export const gatewayHostSchema = z.strictObject({
  protocol: protocolNumber,
  /** The lines of /etc/iproute2/rt_tables.d/multiwan.conf ("101 isp1"), so `ip` shows names. */
  tableNames: z.array(tableNameLine),
  /** name -> value, e.g. { "net.ipv4.ip_forward": "1" }. */
  sysctls: z.record(sysctlName, sysctlValue),
  /** What the boot runner waits for before it re-applies (late DHCP or USB modems). */
  interfaces: z.array(z.strictObject({ name: interfaceName, address: z.union([interfaceAddress, z.literal(LEASE)]) })).min(1),
});
export type GatewayHostEntry = z.infer<typeof gatewayHostSchema>;

const KEY = "host";
const BOOT_ORDER = 10;
/** GatewayHost's own undo record: skipped when undoing the others. */
const UNDO_COPY = undoCopyPath(BOOT_ORDER, KEY);
/** The entry's sysctls with their /proc paths. */
const sysctlsOf = (entry: GatewayHostEntry) =>
  Object.entries(entry.sysctls).map(([name, value]) => ({ name, value, path: sysctlPath(name) }));

const SAVED = `${STATE_DIR}/sysctl`;
const TABLES_DIR = "/etc/iproute2/rt_tables.d";
export const TABLE_NAMES_FILE = `${TABLES_DIR}/multiwan.conf`;

/** Saved originals are keyed by /proc/sys path with "/" as ":" (interface names may hold dots). */
const savedName = (path: string) => path.replace(/^\//, "").replace(/\//g, ":");

/** Puts back every saved original not in `keep` (all of them when keep is empty). */
function restoreSaved(keep: string[]): string[] {
  return [
    `for f in ${SAVED}/*; do`,
    `  [ -e "$f" ] || continue`,
    ...(keep.length ? [`  case "\${f##*/}" in ${keep.map(sh).join("|")}) continue ;; esac`] : []),
    `  p=/$(printf '%s' "\${f##*/}" | tr : /)`,
    `  printf '+ restore %s\\n' "$p" >&2`,
    `  [ ! -e "$p" ] || cat "$f" >"$p"`,
    `  rm -f "$f"`,
    `done`,
  ];
}

function apply(entry: GatewayHostEntry): string[] {
  return [
    `step "check the tools"`,
    `command -v ip >/dev/null || die "iproute2 (ip) is not installed"`,
    "",
    `step "install the shared shell library ${LIB_PATH}"`,
    `run mkdir -p ${STATE_DIR}`,
    `write_file ${LIB_PATH} <<'MULTIWAN_LIB'`,
    `# multiwan: the prelude every boot copy sources (installed by pulumi up, removed by destroy).`,
    PRELUDE,
    `MULTIWAN_LIB`,
    "",
    `# Saves a sysctl's original value once (restored on delete), then sets it.`,
    `mw_sysctl() {`,
    `  [ -e "$2" ] || die "sysctl $1 does not exist (is the interface present?)"`,
    `  mw_saved=${SAVED}/$(printf '%s' "$2" | sed 's#^/##' | tr / :)`,
    `  [ -e "$mw_saved" ] || cat "$2" >"$mw_saved"`,
    `  [ "$(cat "$2")" = "$3" ] || { printf '+ sysctl -w %s=%s\\n' "$1" "$3" >&2; echo "$3" >"$2"; }`,
    `}`,
    `step "set sysctls (originals saved in ${SAVED})"`,
    `run mkdir -p ${SAVED}`,
    ...sysctlsOf(entry).map((s) => `mw_sysctl ${sh(s.name)} ${sh(s.path)} ${sh(s.value)}`),
    "",
    `step "restore sysctls no longer managed"`,
    ...restoreSaved(sysctlsOf(entry).map((s) => savedName(s.path))),
    "",
    `step "name the routing tables in ${TABLE_NAMES_FILE}"`,
    `if [ ! -d ${TABLES_DIR} ]; then run mkdir -p ${TABLES_DIR}; : >${STATE_DIR}/created-rt_tables.d; fi`,
    `write_file ${TABLE_NAMES_FILE} <<'EOF'`,
    `# managed by multiwan; removed by pulumi destroy`,
    ...entry.tableNames,
    `EOF`,
    "",
    `step "install the boot runner ${BOOT_RUNNER}, its systemd unit and link hooks"`,
    `run mkdir -p ${BOOT_DIR}`,
    `write_file ${BOOT_RUNNER} <<'EOF'`,
    renderBootRunner(entry).trimEnd(),
    `EOF`,
    `if [ -d /etc/systemd/system ]; then`,
    `  write_file ${UNIT_FILE} <<'EOF'`,
    renderUnit().trimEnd(),
    `EOF`,
    `  [ -L ${UNIT_WANTS} ] || { run mkdir -p ${UNIT_WANTS.replace(/\/[^/]+$/, "")}; run ln -s ${UNIT_FILE} ${UNIT_WANTS}; }`,
    `  if ${SYSTEMD_RUNNING}; then run systemctl daemon-reload; fi`,
    `fi`,
    ...LINK_HOOKS.flatMap((hook) => [
      `if [ -d ${hook.replace(/\/[^/]+$/, "")} ]; then`,
      `  write_file ${hook} <<'EOF'`,
      renderLinkHook(entry).trimEnd(),
      `EOF`,
      `  run chmod 755 ${hook}`,
      `fi`,
    ]),
  ];
}

/** Removes an empty folder of ours; one that still holds files we did not put there stays, and says so. */
const removeDirIfEmpty = (dir: string) =>
  `[ ! -d ${dir} ] || rmdir ${dir} 2>/dev/null || printf 'multiwan: kept %s: it holds files multiwan did not put there\\n' ${dir} >&2`;

const remove = (): string[] => [
  // First, so an interrupted removal never leaves ip_forward and rp_filter changed.
  `step "restore original sysctls"`,
  ...restoreSaved([]),
  `[ ! -d ${SAVED} ] || run rmdir ${SAVED}`,
  "",
  // Resources an interrupted run applied but the state never learned of:
  // their undo records are the box's own account of what it carries.
  `step "undo every other resource the box still records, newest first"`,
  `ls -r ${UNDO_DIR}/*.sh 2>/dev/null | while read -r f; do`,
  `  [ "$f" != ${UNDO_COPY} ] || continue`,
  `  printf '+ sh %s\\n' "$f" >&2`,
  `  sh "$f" </dev/null || printf 'multiwan: %s failed; continuing\\n' "$f" >&2`,
  `done`,
  "",
  `step "remove the boot runner, its systemd unit and link hooks"`,
  ...LINK_HOOKS.map((f) => `[ ! -e ${f} ] || run rm -f ${f}`),
  // -L: the link goes even if someone already deleted the unit it points to.
  `[ ! -L ${UNIT_WANTS} ] || run rm -f ${UNIT_WANTS}`,
  ...[UNIT_FILE, BOOT_RUNNER].map((f) => `[ ! -e ${f} ] || run rm -f ${f}`),
  `if ${SYSTEMD_RUNNING}; then run systemctl daemon-reload; fi`,
  removeDirIfEmpty(BOOT_DIR),
  "",
  `step "remove the table names"`,
  `[ ! -e ${TABLE_NAMES_FILE} ] || run rm -f ${TABLE_NAMES_FILE}`,
  `if [ -e ${STATE_DIR}/created-rt_tables.d ]; then rmdir ${TABLES_DIR} 2>/dev/null || true; rm -f ${STATE_DIR}/created-rt_tables.d; fi`,
  `step "remove iptables tables multiwan created, if they are empty now"`,
  `for t in nat filter mangle; do`,
  `  [ -e ${STATE_DIR}/created-iptables-$t ] || continue`,
  // An apply cut off between its marker and its first rule never made the table: iptables-nft still lists its policies.
  `  if nft list table ip $t >/dev/null 2>&1 && [ -z "$(iptables -t $t -S | grep -v '^-P [A-Z]* ACCEPT$')" ]; then run nft delete table ip $t; fi`,
  `  rm -f ${STATE_DIR}/created-iptables-$t`,
  `done`,
  "",
  `step "remove the shared shell library and the undo records"`,
  `[ ! -e ${UNDO_COPY} ] || run rm -f ${UNDO_COPY}`,
  removeDirIfEmpty(UNDO_DIR),
  `[ ! -e ${LIB_PATH} ] || run rm -f ${LIB_PATH}`,
  removeDirIfEmpty(STATE_DIR),
];

export const gatewayHost: Kind<GatewayHostEntry> = {
  schema: gatewayHostSchema,
  key: () => KEY,
  id: () => "gateway",
  replaceOn: [],
  bootOrder: BOOT_ORDER,
  title: () => "GatewayHost",
  owns: () => [],
  apply,
  remove,
  read: (entry) => [
    `mw_sysctls() {`,
    ...sysctlsOf(entry).map((s) => `  [ ! -e ${sh(s.path)} ] || printf '%s=%s\\n' ${sh(s.name)} "$(cat ${sh(s.path)})"`),
    `}`,
    `fact sysctls mw_sysctls`,
    `fact table-names cat ${TABLE_NAMES_FILE}`,
    `mw_files() { for f in ${BOOT_RUNNER} ${LIB_PATH}; do [ ! -e "$f" ] || echo "$f"; done; }`,
    `fact files mw_files`,
  ],
  expected: (entry) => [
    ...sysctlsOf(entry).map((s) => `sysctl ${s.name}=${s.value}`),
    ...entry.tableNames.map((t) => `table ${t}`),
    `file ${BOOT_RUNNER}`,
    `file ${LIB_PATH}`,
  ],
  parse: (facts) => [
    ...factLines(facts, "sysctls").map((l) => `sysctl ${l}`),
    ...factLines(facts, "table-names")
      .filter((l) => !l.startsWith("#"))
      .map((l) => `table ${l}`),
    ...factLines(facts, "files").map((l) => `file ${l}`),
  ],
};
