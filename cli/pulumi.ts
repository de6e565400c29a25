// `npm run pulumi -- <args>`: the Pulumi CLI from scripts/toolchain.sh with
// this project's defaults (design §7). Where the CLI has no Node.js language
// host (none can be built or fetched here), the commands that run the program
// get it served from this process (./languageHost.ts); everything else —
// arguments, terminal, prompts, signals, exit code — passes through unchanged.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { REPO_ROOT } from "../support/repoRoot";
import { afterFailedDestroy, repairInterrupted } from "./interrupted";
import { findProjectDir, programFromFile, resolveProgramFile, startLanguageHost, type LanguageHost } from "./languageHost";

/** The commands that take `--client` (an already-running language host), with their aliases. */
const PROGRAM_COMMANDS = new Set(["up", "update", "preview", "pre", "destroy", "down", "dn", "refresh"]);

/** The commands after which a killed run's lock and pending operations are settled first (./interrupted.ts). */
const STATE_COMMANDS = new Set(["up", "update", "destroy", "down", "dn", "refresh", "preview", "pre"]);

const DESTROY_COMMANDS = new Set(["destroy", "down", "dn"]);

/** The value of --stack / -s, if given. */
export function stackOf(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") break;
    const eq = a.match(/^(?:--stack|-s)=(.*)$/);
    if (eq) return eq[1];
    if (a === "--stack" || a === "-s") return args[i + 1];
  }
  return undefined;
}

/** Root flags that take a value as the next argument when not written `--flag=value`. */
const VALUE_FLAGS = new Set([
  "-C",
  "--cwd",
  "--color",
  "--tracing",
  "--otel-traces",
  "--profiling",
  "--memprofilerate",
  "-v",
  "--verbose",
  "--tracing-header",
]);

/** The subcommand and `--cwd`, read from the arguments the way the CLI's root command does. */
export function parseArgs(args: string[]): { command?: string; cwd?: string; wantsHelp: boolean; hasClient: boolean } {
  let command: string | undefined;
  let cwd: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") break;
    const eq = a.match(/^(--cwd|-C)=(.*)$/);
    if (eq) cwd = eq[2];
    else if (a === "--cwd" || a === "-C") cwd = args[++i];
    else if (/^-C./.test(a)) cwd = a.slice(2);
    else if (VALUE_FLAGS.has(a)) i++;
    else if (!a.startsWith("-") && command === undefined) command = a;
  }
  return {
    command,
    cwd,
    wantsHelp: args.includes("--help") || args.includes("-h"),
    hasClient: args.some((a) => a === "--client" || a.startsWith("--client=")),
  };
}

function cacheDir(): string {
  // Same root as scripts/toolchain.sh.
  return process.env.MULTIWAN_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "multiwan");
}

/**
 * The CLI's path: the last line scripts/toolchain.sh prints. Its log shows
 * only when it had work to do (a first build takes minutes) or failed, not
 * on every command.
 */
function findCli(): string {
  const script = path.join(REPO_ROOT, "scripts", "toolchain.sh");
  const r = spawnSync("bash", [script], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const quiet = r.status === 0 && /already built|from PATH/.test(r.stderr);
  if (!quiet) process.stderr.write(r.stderr ?? "");
  if (r.status !== 0) throw new Error(`${script} failed${r.error ? `: ${r.error.message}` : ""}`);
  return r.stdout.trim().split("\n").pop()!;
}

/** True when `pulumi-language-nodejs` sits beside the CLI or on PATH: then the CLI runs the program itself. */
function hasNodeLanguageHost(cli: string): boolean {
  const dirs = [path.dirname(cli), ...(process.env.PATH ?? "").split(path.delimiter).filter(Boolean)];
  return dirs.some((d) => {
    try {
      fs.accessSync(path.join(d, "pulumi-language-nodejs"), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function cliEnv(projectDir: string | undefined): NodeJS.ProcessEnv {
  const env = { ...process.env };
  if (env.PULUMI_HOME === undefined) {
    env.PULUMI_HOME = path.join(cacheDir(), "pulumi-home");
    fs.mkdirSync(env.PULUMI_HOME, { recursive: true });
  }
  env.PULUMI_SKIP_UPDATE_CHECK ??= "1";
  env.PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION ??= "true";
  // Outside a project (e.g. `version`) there is no state to keep: leave the backend to the CLI.
  if (env.PULUMI_BACKEND_URL === undefined && projectDir) {
    const state = path.join(projectDir, ".pulumi-state");
    fs.mkdirSync(state, { recursive: true });
    env.PULUMI_BACKEND_URL = `file://${state}`;
  }
  return env;
}

/**
 * Whether this process is in the terminal's foreground process group. A
 * Ctrl-C then reached the CLI already, and forwarding it would be a second ^C,
 * which makes the CLI terminate at once instead of cancelling cleanly.
 */
function inForegroundOfTerminal(): boolean {
  try {
    const stat = fs.readFileSync("/proc/self/stat", "utf8");
    const [, , pgrp, , , tpgid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(tpgid) > 0 && pgrp === tpgid;
  } catch {
    return Boolean(process.stdin.isTTY); // no /proc: assume an interactive terminal means Ctrl-C
  }
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const startDir = process.cwd();
  const { command, cwd, wantsHelp, hasClient } = parseArgs(args);
  const projectDir = findProjectDir(path.resolve(cwd ?? "."));
  const cli = findCli();
  const env = cliEnv(projectDir);

  if (command && STATE_COMMANDS.has(command) && !wantsHelp && projectDir) {
    repairInterrupted(cli, env, startDir, stackOf(args));
  }

  let host: LanguageHost | undefined;
  let cliArgs = args;
  if (command && PROGRAM_COMMANDS.has(command) && !wantsHelp && !hasClient && projectDir && !hasNodeLanguageHost(cli)) {
    let program: ReturnType<typeof programFromFile>;
    try {
      program = programFromFile(resolveProgramFile(projectDir));
    } catch (e) {
      process.stderr.write(`error: ${(e as Error).message}\n`);
      return 1;
    }
    // The real language host runs the program in the project directory.
    process.chdir(projectDir);
    host = await startLanguageHost(program, projectDir);
    // `--exec-kind auto.inline` is what the Automation API adds: it is
    // recorded in the update's metadata, and spares `refresh` asking this
    // host for the program's plugins (it implements no such call).
    const extra = [`--client=${host.address}`, "--exec-kind", "auto.inline"];
    const dashdash = args.indexOf("--");
    cliArgs = dashdash < 0 ? [...args, ...extra] : [...args.slice(0, dashdash), ...extra, ...args.slice(dashdash)];
  }

  // stdio is inherited so that the CLI sees the terminal: interactive display and prompts work.
  const child = spawn(cli, cliArgs, { stdio: "inherit", env, cwd: startDir });
  const forward = (signal: NodeJS.Signals) => {
    if (signal === "SIGINT" && inForegroundOfTerminal()) return; // the terminal sent it to the CLI too
    child.kill(signal);
  };
  // Handlers also keep this process alive until the CLI has finished cancelling.
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);

  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (c, s) => resolve([c, s]));
  });
  host?.close(code !== 0);
  if (command && DESTROY_COMMANDS.has(command) && !wantsHelp && projectDir && (code !== 0 || signal)) {
    afterFailedDestroy(cli, env, startDir, stackOf(args));
  }
  if (signal) {
    // Die of the same signal, so that a shell sees what happened to the CLI.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
    return 128 + (os.constants.signals[signal] ?? 0);
  }
  return code ?? 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`error: ${(e as Error).message ?? e}\n`);
      process.exit(1);
    },
  );
}
