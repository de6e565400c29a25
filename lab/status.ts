// `lab status`: every lab visible on this machine, whoever started it, found
// by its namespaces, its state directory or its processes' command lines.
import * as fs from "node:fs";
import * as path from "node:path";
import { alive, ancestors, allPids, ANY_LAB_PROCESS_RE, cmdline, labPids, labProcessRe, listNetns } from "./processes";
import { defaultBaseDir, readLabState } from "./state";
import { NAME_RE, ownNamespaces } from "./topology";

export interface LabStatus {
  name: string;
  dir?: string;
  namespaces: string[];
  sshPort?: number;
  sshdRunning: boolean;
  relayRunning: boolean;
  processes: number;
  keptState: boolean;
}

/** Every lab visible on this machine: namespaces, state directories and processes. */
export async function labStatus(baseDir = defaultBaseDir()): Promise<LabStatus[]> {
  const names = await findLabNames(baseDir);
  const netns = await listNetns();
  const out: LabStatus[] = [];
  for (const name of names) {
    const dir = path.join(path.resolve(baseDir), name);
    const s = readLabState(dir);
    const namespaces = ownNamespaces(name, netns);
    const re = labProcessRe(name);
    out.push({
      name,
      dir: fs.existsSync(dir) ? dir : undefined,
      namespaces,
      sshPort: s?.sshPort,
      sshdRunning: !!s && alive(s.sshdPid) && re.test(cmdline(s.sshdPid)),
      relayRunning: !!s && alive(s.relayPid) && re.test(cmdline(s.relayPid)),
      processes: (await labPids(name, dir, namespaces)).length,
      keptState: !!s?.keepState,
    });
  }
  return out;
}

/** Names of all labs: from namespaces, state directories and process command lines. */
export async function findLabNames(baseDir = defaultBaseDir()): Promise<string[]> {
  const names = new Set<string>();
  for (const n of await listNetns()) {
    const m = /^(mw[0-9a-z]{1,12})-(?:gw|m1|m2|net|lan)$/.exec(n);
    if (m) names.add(m[1]);
  }
  const base = path.resolve(baseDir);
  if (fs.existsSync(base)) for (const d of fs.readdirSync(base)) if (NAME_RE.test(d)) names.add(d);
  const mine = ancestors();
  for (const pid of allPids()) {
    if (mine.has(pid)) continue;
    const m = ANY_LAB_PROCESS_RE.exec(cmdline(pid));
    if (m) names.add((m[1] ?? m[2] ?? m[3])!);
  }
  return [...names].sort();
}
