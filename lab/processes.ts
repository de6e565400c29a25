// The lab's long-lived processes (whoami servers, sshd, the ssh relay): how
// they are started, recognised (by pid file, command line or namespace, so
// that a lab can be found after its creator crashed) and stopped.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { run } from "../support/proc";
import { writeFile } from "./state";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // a zombie is not alive
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

export function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

export function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Command lines that belong to lab `name` (relay, sshd, agents, `ip netns exec` wrappers). */
export function labProcessRe(name: string): RegExp {
  const n = escapeRe(name);
  return new RegExp(`(?:${n}-(?:gw|m1|m2|net|lan)\\b|/${n}/|--lab ${n}(?:\\s|$))`);
}
export const ANY_LAB_PROCESS_RE =
  /(?:netns exec (mw[0-9a-z]{1,12})-(?:gw|m1|m2|net|lan)\b|--lab (mw[0-9a-z]{1,12})(?:\s|$)|\/(mw[0-9a-z]{1,12})\/sshd_config)/;

export function ancestors(): Set<number> {
  const out = new Set<number>([process.pid]);
  let pid = process.pid;
  for (let i = 0; i < 64 && pid > 1; i++) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      pid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      out.add(pid);
    } catch {
      break;
    }
  }
  return out;
}

/** Every process below `pid` (children, their children, ...), read from /proc. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of allPids()) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), p]);
    } catch {
      /* gone */
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

export function allPids(): number[] {
  return fs
    .readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

export async function listNetns(): Promise<string[]> {
  const r = await run(["ip", "netns", "list"]);
  return r.stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((s) => s);
}

export async function netnsPids(ns: string): Promise<number[]> {
  const r = await run(["ip", "netns", "pids", ns]);
  return r.stdout
    .split(/\s+/)
    .filter((x) => /^\d+$/.test(x))
    .map(Number);
}

export async function killPids(pids: number[], log: (m: string) => void): Promise<number[]> {
  const mine = ancestors();
  const targets = [...new Set(pids)].filter((p) => p > 1 && !mine.has(p) && alive(p));
  if (!targets.length) return [];
  for (const p of targets) {
    try {
      process.kill(p, "SIGTERM");
    } catch {
      /* gone */
    }
  }
  for (let i = 0; i < 40 && targets.some(alive); i++) await sleep(25);
  const stubborn = targets.filter(alive);
  for (const p of stubborn) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      /* gone */
    }
  }
  for (let i = 0; i < 40 && stubborn.some(alive); i++) await sleep(25);
  if (stubborn.length) log(`killed ${stubborn.length} process(es) with SIGKILL: ${stubborn.join(" ")}`);
  return targets;
}

/** Processes of lab `name`: pid files (if the pid still belongs to the lab), command lines, and everything in its namespaces. */
export async function labPids(name: string, dir: string, namespaces: string[]): Promise<number[]> {
  const re = labProcessRe(name);
  const found = new Set<number>();
  const pidDir = path.join(dir, "pids");
  if (fs.existsSync(pidDir)) {
    for (const f of fs.readdirSync(pidDir)) {
      const pid = Number(fs.readFileSync(path.join(pidDir, f), "utf8").trim());
      if (pid > 1 && alive(pid) && re.test(cmdline(pid))) found.add(pid);
    }
  }
  for (const pid of allPids()) if (re.test(cmdline(pid))) found.add(pid);
  for (const ns of namespaces) for (const pid of await netnsPids(ns)) found.add(pid);
  const mine = ancestors();
  return [...found].filter((p) => !mine.has(p));
}

/** Starts a daemon of the lab in its own session, output to <dir>/logs/<label>.log, pid in <dir>/pids/<label>.pid. */
export function spawnDaemon(dir: string, label: string, argv: string[]): number {
  fs.mkdirSync(path.join(dir, "logs"), { recursive: true });
  fs.mkdirSync(path.join(dir, "pids"), { recursive: true });
  const fd = fs.openSync(path.join(dir, "logs", `${label}.log`), "a");
  try {
    const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ["ignore", fd, fd] });
    child.on("error", () => undefined);
    child.unref();
    if (!child.pid) throw new Error(`could not start ${label}: ${argv.join(" ")}`);
    writeFile(path.join(dir, "pids", `${label}.pid`), `${child.pid}\n`);
    return child.pid;
  } finally {
    fs.closeSync(fd);
  }
}

/** Waits until something listens on TCP `port` in namespace `ns` (the daemon `label` with pid `pid`). */
export async function waitListening(ns: string, dir: string, label: string, port: number, pid: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await run(["ip", "netns", "exec", ns, "ss", "-Hltn", `sport = :${port}`]);
    if (r.stdout.trim()) return;
    if (!alive(pid)) break;
    await sleep(50);
  }
  throw new Error(`nothing listens on :${port} in ${ns} (see ${dir}/logs/${label}.log)`);
}
