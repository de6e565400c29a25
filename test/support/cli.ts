// Helpers for tests that run the Pulumi CLI the way a person does: through
// `node dist/cli/pulumi.js` (what `npm run pulumi` runs), in a project
// directory, with a given environment, capturing output and exit code, and
// never hanging a test run (every command has a timeout that kills its whole
// process tree: the wrapper, the CLI and the plugins it started).
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";

export const REPO_ROOT = path.resolve(__dirname, "..", "..", "..");
/** The compiled wrapper; build first (`npx tsc -b`). */
export const PULUMI_ENTRY = path.join(REPO_ROOT, "dist", "cli", "pulumi.js");

export interface RunOptions {
  /** Working directory: the project (or a directory under it). */
  cwd: string;
  /** Added to this process's environment; `undefined` removes a variable. */
  env?: Record<string, string | undefined>;
  /** Written to stdin, which is then closed (default: empty stdin). */
  input?: string;
  /** Kill the command (and everything it started) after this long. Default 60 s. */
  timeoutMs?: number;
  /** Called as output arrives with all of it so far (stdout then stderr), e.g. to signal the command midway. */
  onOutput?: (output: string, child: ChildProcess) => void;
}

export interface RunResult {
  command: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout then stderr, for "does the output mention X" checks. */
  output: string;
  timedOut: boolean;
  ms: number;
}

export function mergeEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Runs any command; resolves (never rejects on a failing exit code) with what it printed. */
export function run(file: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const command = [file, ...args].map(shellQuote).join(" ");
  const started = Date.now();
  return new Promise((resolve, reject) => {
    // detached: its own process group, so that a timeout can kill the whole tree.
    const child = spawn(file, args, { cwd: opts.cwd, env: mergeEnv(opts.env), stdio: ["pipe", "pipe", "pipe"], detached: true });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      opts.onOutput?.(stdout + stderr, child);
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      opts.onOutput?.(stdout + stderr, child);
    });
    child.stdin.on("error", () => {}); // the command may exit without reading its input
    child.stdin.end(opts.input ?? "");
    settle(child, timeoutMs, reject, (code, signal, timedOut) =>
      resolve({ command, code, signal, stdout, stderr, output: stdout + stderr, timedOut, ms: Date.now() - started }));
  });
}

/** Kills the child's whole tree after `timeoutMs`; reports its exit (or spawn error) once. */
function settle(
  child: ChildProcess,
  timeoutMs: number,
  reject: (e: Error) => void,
  closed: (code: number | null, signal: NodeJS.Signals | null, timedOut: boolean) => void,
): void {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killTree(child.pid);
  }, timeoutMs);
  child.on("error", (e) => {
    clearTimeout(timer);
    reject(e);
  });
  child.on("close", (code, signal) => {
    clearTimeout(timer);
    closed(code, signal, timedOut);
  });
}

/** `pulumi <args>` through the repository's wrapper, as `npm run pulumi -- <args>` runs it (without the tsc step). */
export function runPulumi(args: string[], opts: RunOptions): Promise<RunResult> {
  return run(process.execPath, [PULUMI_ENTRY, ...args], opts);
}

/** `npm run pulumi -- <args>` itself; npm runs it in the repository root (its project). */
export function runNpmPulumi(args: string[], opts: Omit<RunOptions, "cwd"> & { cwd?: string }): Promise<RunResult> {
  return run("npm", ["run", "--silent", "pulumi", "--", ...args], { cwd: REPO_ROOT, ...opts });
}

export interface Response {
  /** Sent once this appears in the terminal output (escape sequences removed) after the previous response. */
  when: RegExp;
  /** What to type; in a raw-mode prompt Enter is "\r". */
  send: string;
}

/**
 * Runs a command under a pseudo-terminal (util-linux `script`), so that it
 * sees a terminal on stdin and stdout and prompts as it would for a person;
 * `responses` are typed when their prompt shows (typing ahead is not enough:
 * a prompt that switches the terminal to raw mode may discard earlier input).
 * Output comes back as the terminal showed it, escape sequences included
 * (see stripAnsi). CI detection is turned off: in CI the CLI never prompts.
 */
export function runInTerminal(
  argv: string[],
  opts: Omit<RunOptions, "input" | "onOutput"> & { responses?: Response[]; columns?: number },
): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const inner = `stty cols ${opts.columns ?? 160} rows 50 2>/dev/null; exec ${argv.map(shellQuote).join(" ")}`;
  const env = mergeEnv({ TERM: "xterm-256color", PULUMI_DISABLE_CI_DETECTION: "1", ...opts.env });
  const started = Date.now();
  return new Promise((resolve, reject) => {
    // -q: no "Script started" lines, -e: exit with the command's status, -f: flush at once.
    const child = spawn("script", ["-qefc", inner, "/dev/null"], { cwd: opts.cwd, env, stdio: ["pipe", "pipe", "pipe"], detached: true });
    const pending = [...(opts.responses ?? [])];
    let stdout = "";
    let stderr = "";
    let seen = 0; // where the search for the next prompt starts
    child.stdin.on("error", () => {});
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      answerTerminalQueries(d, (reply) => child.stdin.write(reply));
      const text = stripAnsi(stdout);
      if (pending.length > 0) {
        const m = pending[0].when.exec(text.slice(seen));
        if (m) {
          seen += m.index + m[0].length;
          child.stdin.write(pending.shift()!.send);
        }
      }
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    // stdin stays open until the command exits: at EOF `script` would hang up the terminal.
    settle(child, timeoutMs, reject, (code, signal, timedOut) => {
      child.stdin.destroy();
      resolve({ command: inner, code, signal, stdout, stderr, output: stdout + stderr, timedOut, ms: Date.now() - started });
    });
  });
}

/**
 * Answers what programs ask a terminal: the CLI's display library asks for the
 * background colour (OSC 11) and the cursor position (DSR) and, with no
 * answer, waits about 5 s before going on.
 */
function answerTerminalQueries(chunk: string, reply: (s: string) => void): void {
  if (chunk.includes("\x1b]11;?")) reply("\x1b]11;rgb:0000/0000/0000\x1b\\");
  if (chunk.includes("\x1b[6n")) reply("\x1b[1;1R");
}

/** Kills a detached child's process group; it may already be gone. */
function killTree(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already exited
  }
}

/** Removes terminal escape sequences (colours, cursor movement) and carriage returns. */
export function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g, "").replace(/\r/g, "");
}

export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A readable account of a run, for assertion messages. */
export function describeRun(r: RunResult, tail = 4000): string {
  const out = r.output.length > tail ? "..." + r.output.slice(-tail) : r.output;
  return `$ ${r.command}\nexit ${r.code}${r.signal ? ` (${r.signal})` : ""}${r.timedOut ? " TIMED OUT" : ""} after ${r.ms} ms\n${out}`;
}

/** Throws (with the output) unless the command succeeded. */
export function assertSuccess(r: RunResult): RunResult {
  if (r.code !== 0 || r.timedOut) throw new Error(`command failed:\n${describeRun(r)}`);
  return r;
}
