// Child processes of the bench: every one runs in its own process group and
// is tracked, so a timeout, an error or an interrupted bench kills the whole
// tree it started (the Pulumi wrapper, the CLI, the provider plugin, ssh,
// ansible-playbook, iperf3).
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import { performance } from "node:perf_hooks";

export interface ProcResult {
  argv: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, in milliseconds. */
  ms: number;
  timedOut: boolean;
}

export interface ProcOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  timeoutMs?: number;
}

const live = new Set<ChildProcess>();

/** Kills the child's process group; `evenIfExited` also reaps what the leader left behind in it. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL", evenIfExited = false): void {
  if (child.pid === undefined) return;
  if (!evenIfExited && (child.exitCode !== null || child.signalCode !== null)) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    if (!evenIfExited) {
      try {
        child.kill(signal);
      } catch {
        /* gone */
      }
    }
  }
}

/** Kills every tracked child's process group (synchronous: safe in an exit handler). */
export function killAll(): number {
  let n = 0;
  for (const c of live) {
    killGroup(c);
    n++;
  }
  live.clear();
  return n;
}

const scratch = new Set<string>();

/** A scratch directory removed on exit, even when a signal ends the bench before its finally blocks run. */
export function scratchDir(dir: string): string {
  hookExit();
  scratch.add(dir);
  return dir;
}

let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    killAll();
    for (const d of scratch) {
      try {
        fs.rmSync(d, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
  });
}

/** Runs argv to completion; never rejects for a non-zero exit. */
export function run(argv: readonly string[], opts: ProcOptions = {}): Promise<ProcResult> {
  hookExit();
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(argv[0], argv.slice(1), { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ["pipe", "pipe", "pipe"], detached: true });
    live.add(child);
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, opts.timeoutMs ?? 300_000);
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.stdin!.on("error", () => undefined);
    child.stdin!.end(opts.input ?? "");
    child.on("error", (e) => {
      clearTimeout(timer);
      live.delete(child);
      reject(new Error(`${argv[0]}: ${e.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - t0;
      // Anything the command left in its group (it should leave nothing) goes too.
      killGroup(child, "SIGKILL", true);
      live.delete(child);
      resolve({ argv: [...argv], code, signal, stdout, stderr, ms, timedOut });
    });
  });
}

/** Throws with the command's output unless it exited 0. */
export function check(r: ProcResult, what?: string): ProcResult {
  if (r.code !== 0 || r.timedOut) {
    const out = `${r.stdout}\n${r.stderr}`.trim();
    const tail = out.length > 6000 ? "..." + out.slice(-6000) : out;
    throw new Error(`${what ?? r.argv.join(" ")} failed (exit ${r.code}${r.signal ? `, ${r.signal}` : ""}${r.timedOut ? ", timed out" : ""}) after ${Math.round(r.ms)} ms:\n${tail}`);
  }
  return r;
}

/** A long-running process (e.g. iperf3 -s): started now, stopped by stop() or killAll(). */
export function start(argv: readonly string[], opts: ProcOptions = {}): { child: ChildProcess; output: () => string; stop: () => Promise<void> } {
  hookExit();
  const child = spawn(argv[0], argv.slice(1), { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"], detached: true });
  live.add(child);
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.on("error", () => undefined);
  const closed = new Promise<void>((r) => child.on("close", () => r()));
  return {
    child,
    output: () => out,
    stop: async () => {
      killGroup(child, "SIGTERM");
      const t = setTimeout(() => killGroup(child), 2000);
      await closed;
      clearTimeout(t);
      live.delete(child);
    },
  };
}
