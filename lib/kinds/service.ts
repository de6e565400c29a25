// An on-box service of ours (the health monitor, the DHCP watcher): its
// systemd unit installed and started, or restarted when its files changed;
// stopped and removed again. Where systemd does not run (a container, the
// lab), the service's supervisor starts it, so a changed service is killed
// and comes back with its new files.
export interface ServiceFiles {
  /** "monitor", "watcher": how the steps name the service. */
  what: string;
  /** What a change of restarts it: "script or configuration". */
  changes: string;
  unitName: string;
  unitFile: string;
  /** The multi-user.target.wants link. */
  unitWants: string;
  unit: string;
  /** Where the running service writes its pid (the supervisor's case). */
  pidFile: string;
}

export const SYSTEMD_RUNNING = "[ -d /run/systemd/system ] && command -v systemctl >/dev/null";

/** Installs the unit, then starts the service, or restarts it when `$mw_changed` is set. */
export function startService(s: ServiceFiles): string[] {
  return [
    `step "install ${s.unitName}: after the boot runner, restarted whenever it stops"`,
    `if [ -d /etc/systemd/system ]; then`,
    `  write_file ${s.unitFile} <<'EOF'`,
    s.unit.trimEnd(),
    `EOF`,
    `  [ -L ${s.unitWants} ] || { run mkdir -p ${s.unitWants.replace(/\/[^/]+$/, "")}; run ln -s ${s.unitFile} ${s.unitWants}; }`,
    `fi`,
    "",
    `step "start the ${s.what}, or restart it when its ${s.changes} changed"`,
    `if ${SYSTEMD_RUNNING}; then`,
    `  run systemctl daemon-reload`,
    `  if [ -n "$mw_changed" ]; then run systemctl restart --no-block ${s.unitName}`,
    `  elif ! systemctl is-active --quiet ${s.unitName}; then run systemctl start --no-block ${s.unitName}; fi`,
    `elif [ -n "$mw_changed" ] && mw_pid=$(cat ${s.pidFile} 2>/dev/null) && kill -0 "$mw_pid" 2>/dev/null; then`,
    `  # No systemd (a container, the lab): the ${s.what}'s supervisor starts it again with the new configuration.`,
    `  printf '+ kill %s\\n' "$mw_pid" >&2`,
    `  kill "$mw_pid" 2>/dev/null || true`,
    `fi`,
  ];
}

/** Stops the service and removes its unit; without systemd, kills it and waits up to 5 s. */
export function stopService(s: ServiceFiles): string[] {
  return [
    `step "stop the ${s.what} and remove ${s.unitName}"`,
    `if ${SYSTEMD_RUNNING}; then`,
    `  ! systemctl is-active --quiet ${s.unitName} || run systemctl stop ${s.unitName}`,
    `fi`,
    `[ ! -L ${s.unitWants} ] || run rm -f ${s.unitWants}`,
    `[ ! -e ${s.unitFile} ] || run rm -f ${s.unitFile}`,
    `if ${SYSTEMD_RUNNING}; then run systemctl daemon-reload; fi`,
    `if mw_pid=$(cat ${s.pidFile} 2>/dev/null) && kill -0 "$mw_pid" 2>/dev/null; then`,
    `  printf '+ kill %s\\n' "$mw_pid" >&2`,
    `  kill "$mw_pid" 2>/dev/null || true`,
    `  mw_i=0`,
    `  while kill -0 "$mw_pid" 2>/dev/null && [ $mw_i -lt 50 ]; do sleep 0.1; mw_i=$((mw_i + 1)); done`,
    `fi`,
  ];
}
