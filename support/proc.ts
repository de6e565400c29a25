// The one way the lab, the bench, the CLI helpers and the tests run a
// command. Every child gets its own process group and is tracked, so a
// timeout, an error or an exiting parent kills the whole tree it started
// (the Pulumi wrapper, the CLI, the provider plugin, ssh, ansible-playbook,
// iperf3, `ip netns exec` chains) and never leaves a test run hanging.
// It lives outside lib/ because lib/ stays free of I/O.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import { performance } from "node:perf_hooks";

export interface RunOptions {
  cwd?: string;
  /** The child's whole environment (default: this process's); see mergeEnv. */
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed (default: empty stdin). */
  input?: string;
  /** Kill the command's process group after this long (default 60 s). */
  timeoutMs?: number;
  /** Reject (with the output in the message) unless the command exits 0 in time. */
  check?: boolean;
  /** Called as output arrives: all of it so far (stdout then stderr), the child, and the new chunk. */
  onOutput?: (output: string, child: ChildProcess, chunk: string, stream: "stdout" | "stderr") => void;
  /** Keep stdin open until the command exits (a pseudo-terminal wrapper hangs up at EOF). */
  keepStdinOpen?: boolean;
}

export interface RunResult {
  argv: string[];
  /** argv quoted for a shell, for messages. */
  command: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout then stderr, for "does the output mention X" checks. */
  output: string;
  /** Wall time from spawn to exit, in milliseconds. */
  ms: number;
  timedOut: boolean;
}

export const DEFAULT_TIMEOUT_MS = 60_000;

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

/** A scratch directory removed on exit, even when a signal ends the process before its finally blocks run. */
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

/** Starts argv in its own process group, tracked until it closes. */
function spawnTracked(argv: readonly string[], opts: RunOptions, stdin: "pipe" | "ignore"): ChildProcess {
  hookExit();
  const child = spawn(argv[0], argv.slice(1), {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: [stdin, "pipe", "pipe"],
    detached: true,
  });
  live.add(child);
  child.on("close", () => live.delete(child));
  return child;
}

/** Runs argv to completion. Resolves whatever the exit code, unless `check` is set. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawnTracked(argv, opts, "pipe");
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, timeoutMs);
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      opts.onOutput?.(stdout + stderr, child, d, "stdout");
    });
    child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      opts.onOutput?.(stdout + stderr, child, d, "stderr");
    });
    child.stdin!.on("error", () => undefined); // the command may exit without reading its input
    if (opts.keepStdinOpen) {
      if (opts.input) child.stdin!.write(opts.input);
    } else child.stdin!.end(opts.input ?? "");
    child.on("error", (e) => {
      clearTimeout(timer);
      live.delete(child);
      reject(new Error(`${argv.join(" ")}: ${e.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (opts.keepStdinOpen) child.stdin!.destroy();
      // Anything the command left in its group (it should leave nothing) goes too.
      killGroup(child, "SIGKILL", true);
      const r: RunResult = {
        argv: [...argv],
        command: argv.map(shellQuote).join(" "),
        code,
        signal,
        stdout,
        stderr,
        output: stdout + stderr,
        ms: performance.now() - t0,
        timedOut,
      };
      if (opts.check && failed(r)) reject(new Error(failureMessage(r)));
      else resolve(r);
    });
  });
}

function failed(r: RunResult): boolean {
  return r.code !== 0 || r.timedOut;
}

function failureMessage(r: RunResult, what?: string): string {
  return `${what ?? "command"} failed:\n${describeRun(r, 6000)}`;
}

/** Throws with the command's output unless it exited 0 in time. */
export function check(r: RunResult, what?: string): RunResult {
  if (failed(r)) throw new Error(failureMessage(r, what));
  return r;
}

/** A readable account of a run, for error and assertion messages. */
export function describeRun(r: RunResult, tail = 4000): string {
  const out = r.output.length > tail ? `...${r.output.slice(-tail)}` : r.output;
  return `$ ${r.command}\nexit ${r.code}${r.signal ? ` (${r.signal})` : ""}${r.timedOut ? " TIMED OUT" : ""} after ${Math.round(r.ms)} ms\n${out}`;
}

/** A long-running process (e.g. iperf3 -s): started now, stopped by stop() or killAll(). */
export function start(
  argv: readonly string[],
  opts: Pick<RunOptions, "cwd" | "env"> = {},
): { child: ChildProcess; output: () => string; stop: () => Promise<void> } {
  const child = spawnTracked(argv, opts, "ignore");
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
    },
  };
}

/** This process's environment with `extra` applied; `undefined` removes a variable. */
export function mergeEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
