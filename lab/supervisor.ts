// The lab's stand-in for systemd (namespaces have none): a respawn loop in
// the gateway's mount and network namespace that runs what an installed
// unit's ExecStart says, and starts it again a second after it exits, as
// Restart=always with RestartSec=1 does. Without the unit file it waits, so
// after destroy the monitor stays stopped. Its log is the lab's journal.
import fs from "node:fs";
import path from "node:path";
import { spawnDaemon } from "./processes";

export interface SupervisedLab {
  readonly name: string;
  readonly dir: string;
  readonly sshdPid: number;
}

/** The loop, as sh: reads ExecStart from `unitFile` on every start. */
export function supervisorScript(unitFile: string): string {
  return [
    "while :; do",
    `  if [ -f ${unitFile} ]; then`,
    `    cmd=$(sed -n 's/^ExecStart=//p' ${unitFile})`,
    `    echo "lab-supervisor: starting $cmd" >&2`,
    "    $cmd",
    `    echo "lab-supervisor: $cmd exited with $?" >&2`,
    "  fi",
    "  sleep 1",
    "done",
  ].join("\n");
}

/** Starts the loop for `unitFile`; `--lab <name>` lets teardown find it. Returns its pid. */
export function startSupervisor(lab: SupervisedLab, label: string, unitFile: string): number {
  return spawnDaemon(lab.dir, label, [
    "nsenter",
    "-t",
    String(lab.sshdPid),
    "-m",
    "-n",
    "--",
    "sh",
    "-c",
    supervisorScript(unitFile),
    label,
    "--lab",
    lab.name,
  ]);
}

/** What the supervised service printed so far (its journal). */
export function supervisorLog(lab: SupervisedLab, label: string): string {
  const file = path.join(lab.dir, "logs", `${label}.log`);
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
}
