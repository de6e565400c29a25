// GatewayHost: the host-wide settings every other resource relies on —
// sysctls (originals saved, restored on delete), the table names, and the
// boot runner that re-applies everything after a reboot or a link flap.
import type { GatewayHostEntry } from "../plan";
import { BOOT_DIR, BOOT_RUNNER, LINK_HOOKS, UNIT_FILE, UNIT_WANTS, renderBootRunner, renderLinkHook, renderUnit } from "./boot";
import { STATE_DIR } from "./paths";
import { Scripts, script, sh } from "./shell";

export { STATE_DIR };
const SYSTEMD_RUNNING = "[ -d /run/systemd/system ] && command -v systemctl >/dev/null";
const SAVED = `${STATE_DIR}/sysctl`;
const TABLES_DIR = "/etc/iproute2/rt_tables.d";
export const TABLE_NAMES_FILE = `${TABLES_DIR}/multiwan.conf`;

/** Saved originals are keyed by /proc/sys path with "/" as ":" (interface names may hold dots). */
const savedName = (path: string) => path.replace(/^\//, "").replace(/\//g, ":");

export function renderGatewayHost(entry: GatewayHostEntry): Scripts {
  const tableLines = entry.tableNames.map((t) => `${t.id} ${t.name}`);
  const wanted = entry.sysctls.map((s) => savedName(s.path));
  const apply = script("GatewayHost: apply", [
    `step "check the tools"`,
    `command -v ip >/dev/null || die "iproute2 (ip) is not installed"`,
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
    ...entry.sysctls.map((s) => `mw_sysctl ${sh(s.name)} ${sh(s.path)} ${sh(s.value)}`),
    "",
    `step "restore sysctls no longer managed"`,
    `for f in ${SAVED}/*; do`,
    `  [ -e "$f" ] || continue`,
    `  case "\${f##*/}" in ${wanted.map(sh).join("|")}) continue ;; esac`,
    `  p=/$(printf '%s' "\${f##*/}" | tr : /)`,
    `  printf '+ restore %s\\n' "$p" >&2`,
    `  [ ! -e "$p" ] || cat "$f" >"$p"`,
    `  rm -f "$f"`,
    `done`,
    "",
    `step "name the routing tables in ${TABLE_NAMES_FILE}"`,
    `if [ ! -d ${TABLES_DIR} ]; then run mkdir -p ${TABLES_DIR}; : >${STATE_DIR}/created-rt_tables.d; fi`,
    `write_file ${TABLE_NAMES_FILE} <<'EOF'`,
    `# managed by multiwan; removed by pulumi destroy`,
    ...tableLines,
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
  ]);
  const remove = script("GatewayHost: remove", [
    `step "remove the boot runner, its systemd unit and link hooks"`,
    ...LINK_HOOKS.map((f) => `[ ! -e ${f} ] || run rm -f ${f}`),
    // -L: the link goes even if someone already deleted the unit it points to.
    `[ ! -L ${UNIT_WANTS} ] || run rm -f ${UNIT_WANTS}`,
    ...[UNIT_FILE, BOOT_RUNNER].map((f) => `[ ! -e ${f} ] || run rm -f ${f}`),
    `if ${SYSTEMD_RUNNING}; then run systemctl daemon-reload; fi`,
    `[ ! -d ${BOOT_DIR} ] || run rmdir ${BOOT_DIR}`,
    "",
    `step "restore original sysctls"`,
    `for f in ${SAVED}/*; do`,
    `  [ -e "$f" ] || continue`,
    `  p=/$(printf '%s' "\${f##*/}" | tr : /)`,
    `  printf '+ restore %s\\n' "$p" >&2`,
    `  [ ! -e "$p" ] || cat "$f" >"$p"`,
    `  rm -f "$f"`,
    `done`,
    `[ ! -d ${SAVED} ] || run rmdir ${SAVED}`,
    "",
    `step "remove the table names"`,
    `[ ! -e ${TABLE_NAMES_FILE} ] || run rm -f ${TABLE_NAMES_FILE}`,
    `if [ -e ${STATE_DIR}/created-rt_tables.d ]; then rmdir ${TABLES_DIR} 2>/dev/null || true; rm -f ${STATE_DIR}/created-rt_tables.d; fi`,
    `step "remove iptables tables multiwan created, if they are empty now"`,
    `for t in nat filter; do`,
    `  [ -e ${STATE_DIR}/created-iptables-$t ] || continue`,
    `  if [ -z "$(iptables -t $t -S | grep -v '^-P [A-Z]* ACCEPT$')" ]; then run nft delete table ip $t; fi`,
    `  rm -f ${STATE_DIR}/created-iptables-$t`,
    `done`,
    `[ ! -d ${STATE_DIR} ] || rmdir ${STATE_DIR} 2>/dev/null || true`,
  ]);
  const read = script("GatewayHost: read", [
    ...entry.sysctls.map((s) => `[ ! -e ${sh(s.path)} ] || printf 'sysctl %s=%s\\n' ${sh(s.name)} "$(cat ${sh(s.path)})"`),
    `[ ! -e ${TABLE_NAMES_FILE} ] || grep -v '^#' ${TABLE_NAMES_FILE} | sed 's/^/table /'`,
    `[ ! -e ${BOOT_RUNNER} ] || echo 'boot runner ${BOOT_RUNNER}'`,
  ]);
  return { apply, remove, read };
}

export function expectedGatewayHost(entry: GatewayHostEntry): string[] {
  return [
    ...entry.sysctls.map((s) => `sysctl ${s.name}=${s.value}`),
    ...entry.tableNames.map((t) => `table ${t.id} ${t.name}`),
    `boot runner ${BOOT_RUNNER}`,
  ];
}
