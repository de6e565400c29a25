// Helpers for tests that run the Pulumi CLI the way a person does: through
// `node dist/cli/pulumi.js` (what `npm run pulumi` runs), in a project
// directory, with a given environment, capturing output and exit code, and
// never hanging a test run (every command has a timeout that kills its whole
// process tree: the wrapper, the CLI and the plugins it started).
import type { ChildProcess } from "node:child_process";
import path from "node:path";
import { DEFAULT_TIMEOUT_MS, check, describeRun, mergeEnv, run, shellQuote, type RunResult } from "../../support/proc";
import { REPO_ROOT } from "../../support/repoRoot";

export { REPO_ROOT, describeRun, mergeEnv, shellQuote, type RunResult };
/** Throws (with the output) unless the command succeeded. */
export const assertSuccess = (r: RunResult): RunResult => check(r);

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

/** `pulumi <args>` through the repository's wrapper, as `npm run pulumi -- <args>` runs it (without the tsc step). */
export function runPulumi(args: string[], opts: RunOptions): Promise<RunResult> {
  return run([process.execPath, PULUMI_ENTRY, ...args], { ...opts, env: mergeEnv(opts.env) });
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
  const inner = `stty cols ${opts.columns ?? 160} rows 50 2>/dev/null; exec ${argv.map(shellQuote).join(" ")}`;
  const pending = [...(opts.responses ?? [])];
  let stdout = "";
  let seen = 0; // where the search for the next prompt starts
  // -q: no "Script started" lines, -e: exit with the command's status, -f: flush at once.
  // stdin stays open until the command exits: at EOF `script` would hang up the terminal.
  return run(["script", "-qefc", inner, "/dev/null"], {
    cwd: opts.cwd,
    env: mergeEnv({ TERM: "xterm-256color", PULUMI_DISABLE_CI_DETECTION: "1", ...opts.env }),
    timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    keepStdinOpen: true,
    onOutput(_all, child, chunk, stream) {
      if (stream !== "stdout") return;
      stdout += chunk;
      answerTerminalQueries(chunk, (reply) => child.stdin!.write(reply));
      const text = stripAnsi(stdout);
      if (pending.length > 0) {
        const m = pending[0].when.exec(text.slice(seen));
        if (m) {
          seen += m.index + m[0].length;
          child.stdin!.write(pending.shift()!.send);
        }
      }
    },
  }).then((r) => ({ ...r, command: inner }));
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

/** Removes terminal escape sequences (colours, cursor movement) and carriage returns. */
export function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g, "").replace(/\r/g, "");
}
