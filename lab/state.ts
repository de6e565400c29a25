// What a lab keeps on disk: <dir>/lab.json (LabState) beside its keys,
// sshd_config, logs and the gateway's disk, and where those directories live.
import * as fs from "node:fs";
import * as path from "node:path";
import { REPO_ROOT } from "../support/repoRoot";
import type { Role, TOPOLOGY } from "./topology";

export interface LabState {
  name: string;
  dir: string;
  createdAt: string;
  namespaces: Record<Role, string>;
  sshPort: number;
  sshdPid: number;
  relayPid: number;
  whoamiPid: number;
  gwServerPid?: number;
  hostKeyLine: string;
  clientPublicKeyLine: string;
  privateKeyPath: string;
  knownHostsPath: string;
  stackFile: string;
  sshCommand: string;
  keepState: boolean;
  nat: "nftables" | "iptables";
  disk: Record<string, string>;
  topology: typeof TOPOLOGY;
}

/** The traffic helper the lab runs inside its namespaces, and the lab CLI (for teardown from signal handlers). */
export const AGENT = path.join(__dirname, "agent.js");
export const CLI = path.join(__dirname, "cli.js");
/** Overlays of the gateway: gateway path -> directory name under <dir>/disk. */
export const OVERLAYS: Record<string, string> = { "/etc": "etc", "/var/lib": "var-lib", "/usr/local": "usr-local" };
export const TMPFS = ["/root", "/tmp", "/var/tmp", "/var/log"];

export function defaultBaseDir(): string {
  return process.env.MULTIWAN_LAB_DIR ?? path.join(REPO_ROOT, ".lab");
}

export function defaultLog(name: string): (msg: string) => void {
  const t0 = Date.now();
  return (msg) => process.stderr.write(`lab ${name} +${((Date.now() - t0) / 1000).toFixed(2)}s: ${msg}\n`);
}

export function writeFile(file: string, text: string, mode = 0o644): void {
  fs.writeFileSync(file, text, { mode });
  fs.chmodSync(file, mode);
}

export function readKeyLine(file: string): string {
  // "ssh-ed25519 AAAA... comment" -> "ssh-ed25519 AAAA..."
  const [type, blob] = fs.readFileSync(file, "utf8").trim().split(/\s+/);
  return `${type} ${blob}`;
}

/** <dir>/lab.json, or undefined when there is none (or it is unreadable: a lab that crashed while starting). */
export function readLabState(dir: string): LabState | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, "lab.json"), "utf8")) as LabState;
  } catch {
    return undefined;
  }
}

export function saveLabState(s: LabState): void {
  writeFile(path.join(s.dir, "lab.json"), `${JSON.stringify(s, null, 2)}\n`, 0o600);
}
