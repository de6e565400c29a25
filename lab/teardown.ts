// Removing a lab with nothing but its name, also after its creator crashed,
// and the guard that does it when a test process is interrupted. Other labs
// on this machine (other people's) are never touched: everything is matched
// by this lab's name.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { run } from "../support/proc";
import { allPids, cmdline, escapeRe, killPids, labPids, listNetns } from "./processes";
import { CLI, defaultBaseDir, defaultLog, readLabState } from "./state";
import { NAME_RE, ownNamespaces } from "./topology";

export interface DownOptions {
  keepState?: boolean;
  log?: (msg: string) => void;
}

export interface DownReport {
  name: string;
  namespaces: string[];
  killed: number[];
  removedDir: boolean;
  /** Anything still found after teardown (should be empty). */
  leftovers: string[];
}

/** Mount entries anywhere (any process's mount namespace) that still mention the lab. */
function labMounts(name: string): string[] {
  const out: string[] = [];
  const needle = `/run/netns/${name}-`;
  for (const pid of allPids()) {
    let mi = "";
    try {
      mi = fs.readFileSync(`/proc/${pid}/mountinfo`, "utf8");
    } catch {
      continue;
    }
    for (const line of mi.split("\n")) {
      if (line.includes(needle) || line.includes(`/${name}/disk/`)) out.push(`pid ${pid}: ${line}`);
    }
  }
  return out;
}

/**
 * The state dir of lab `name`: under baseDir, or (a lab started from another
 * checkout) the directory of the sshd_config its running sshd was given.
 */
function locateDir(name: string, baseDir: string): string {
  const dflt = path.join(baseDir, name);
  if (fs.existsSync(dflt)) return dflt;
  const re = new RegExp(`-f (/\\S*/${escapeRe(name)})/sshd_config`);
  for (const pid of allPids()) {
    const m = re.exec(cmdline(pid));
    if (m && fs.existsSync(path.join(m[1], "lab.json"))) return m[1];
  }
  return dflt;
}

/**
 * Removes lab `name` with nothing but its name: kills its processes (pid
 * files, command lines naming it, everything inside its namespaces), deletes
 * its namespaces and any /etc/netns/<ns>, and removes its directory unless
 * keepState (or the lab was created with keepState). Works after a crash.
 */
export async function downLab(name: string, opts: DownOptions & { baseDir?: string } = {}): Promise<DownReport> {
  if (!NAME_RE.test(name)) throw new Error(`not a lab name: ${JSON.stringify(name)}`);
  const log = opts.log ?? defaultLog(name);
  const dir = locateDir(name, path.resolve(opts.baseDir ?? defaultBaseDir()));
  const keepState = opts.keepState ?? readLabState(dir)?.keepState ?? false;
  const namespaces = ownNamespaces(name, await listNetns());
  const killed: number[] = [];
  // The relay first (it would fork new children into the gateway), then the rest; twice to catch late forks.
  for (let round = 0; round < 3; round++) {
    const pids = await labPids(name, dir, namespaces);
    if (!pids.length) break;
    const relay = pids.filter((p) => cmdline(p).startsWith("socat TCP-LISTEN"));
    killed.push(...(await killPids(relay, log)));
    killed.push(
      ...(await killPids(
        pids.filter((p) => !relay.includes(p)),
        log,
      )),
    );
  }
  if (killed.length) log(`stopped ${killed.length} process(es)`);
  for (const ns of namespaces) {
    const r = await run(["ip", "netns", "del", ns]);
    if (r.code !== 0) log(`ip netns del ${ns}: ${r.stderr.trim()}`);
    const etc = path.join("/etc/netns", ns);
    if (fs.existsSync(etc)) {
      fs.rmSync(etc, { recursive: true, force: true });
      log(`removed ${etc}`);
    }
  }
  if (namespaces.length) log(`deleted namespaces ${namespaces.join(" ")}`);
  let removedDir = false;
  if (!keepState && fs.existsSync(dir)) {
    fs.rmSync(dir, { recursive: true, force: true });
    removedDir = true;
    log(`removed ${dir}`);
  } else if (fs.existsSync(dir)) {
    for (const f of ["pids"]) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
    log(`kept ${dir} (its disk, keys and logs); \`lab down ${name} --purge\` removes it`);
  }
  // the default base dir goes away with its last lab
  const base = path.dirname(dir);
  if (path.basename(base) === ".lab") {
    try {
      fs.rmdirSync(base);
    } catch {
      /* not empty, or another lab is starting */
    }
  }
  const leftovers = [
    ...ownNamespaces(name, await listNetns()).map((n) => `namespace ${n}`),
    ...(await labPids(name, dir, [])).map((p) => `process ${p}: ${cmdline(p)}`),
    ...labMounts(name).map((m) => `mount ${m}`),
  ];
  for (const l of leftovers) log(`LEFTOVER ${l}`);
  return { name, namespaces, killed, removedDir, leftovers };
}

/**
 * Synchronous `down` by name, for signal and exit handlers (runs the CLI in a
 * child process and waits for it).
 */
export function downLabSync(name: string, baseDir = defaultBaseDir()): { code: number | null; output: string } {
  if (!NAME_RE.test(name)) throw new Error(`not a lab name: ${JSON.stringify(name)}`);
  // Output is collected, not inherited: when `node --test` is interrupted its
  // parent exits first, and writing to the dead pipe would kill the teardown.
  const r = spawnSync(process.execPath, [CLI, "down", name], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, MULTIWAN_LAB_DIR: path.resolve(baseDir) },
    timeout: 60_000,
    encoding: "utf8",
  });
  return { code: r.status, output: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

/**
 * Makes this process remove lab `name` if it is interrupted (SIGINT, SIGTERM,
 * SIGHUP: then it exits 128+n) or exits while the lab is up. Returns the
 * function that removes the guard again.
 */
export function guardLab(name: string, baseDir = defaultBaseDir()): () => void {
  let active = true;
  const signals: [NodeJS.Signals, number][] = [
    ["SIGINT", 2],
    ["SIGTERM", 15],
    ["SIGHUP", 1],
  ];
  const onExit = (why: string) => {
    if (!active) return;
    active = false;
    const r = downLabSync(name, baseDir);
    try {
      // may fail (EPIPE) when whoever read our stderr is gone; the lab is down anyway
      fs.writeSync(2, `lab ${name}: ${why}: torn down (exit ${r.code})\n`);
    } catch {
      /* nobody listens */
    }
  };
  const exitHandler = () => onExit("process exit while the lab was up");
  const handlers = signals.map(([sig, n]) => {
    const h = () => {
      onExit(sig);
      process.exit(128 + n);
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  process.on("exit", exitHandler);
  return () => {
    active = false;
    for (const [sig, h] of handlers) process.removeListener(sig, h);
    process.removeListener("exit", exitHandler);
  };
}
