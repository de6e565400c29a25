// npm run review -- --stack <name> [--base <git ref>]: Markdown for a pull
// request comment — what the working tree's stack file changes on the
// gateway compared with the base ref's, down to the scripts. Offline: it
// reads the stack files and renders; it never runs the engine or contacts a host.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import type { Site } from "../../lib/schema";
import { validateSite } from "../../lib/validate";
import { findProjectDir } from "../languageHost";
import { StackFileError, parseStackFile, readStackFile, runCli } from "../stackFile";
import { reviewMarkdown } from "./report";

const USAGE = "usage: npm run review -- --stack <name> [--base <git ref>]   (the base defaults to HEAD)";

function parseArgs(args: string[]): { stack?: string; base: string } {
  const value = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : args.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
  };
  return { stack: value("--stack"), base: value("--base") ?? "HEAD" };
}

function stackFilePath(projectDir: string, stack: string): string {
  const spec = YAML.parse(fs.readFileSync(path.join(projectDir, "Pulumi.yaml"), "utf8")) ?? {};
  return path.join(projectDir, spec.stackConfigDir ?? ".", `Pulumi.${stack}.yaml`);
}

/** The stack file as the base ref has it; undefined when it did not exist there. */
function atRef(file: string, ref: string): string | undefined {
  const rel = `./${path.relative(process.cwd(), file)}`;
  try {
    return execFileSync("git", ["show", `${ref}:${rel}`], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? "");
    if (/does not exist|exists on disk, but not in/.test(stderr)) return undefined;
    throw new StackFileError(`git show ${ref}:${rel} failed: ${stderr.trim() || (err as Error).message}`);
  }
}

function validOrThrow(raw: unknown, where: string): Site {
  const result = validateSite(raw);
  if (result.ok) return result.site;
  throw new StackFileError(`${where}: the site is invalid:\n${result.problems.join("\n")}`);
}

runCli(() => {
  const { stack, base } = parseArgs(process.argv.slice(2));
  if (!stack) {
    console.error(USAGE);
    return 2;
  }
  const projectDir = findProjectDir(process.cwd());
  if (!projectDir) throw new StackFileError("no Pulumi.yaml here or above: run it in the project");
  const file = stackFilePath(projectDir, stack);
  const head = fs.existsSync(file) ? validOrThrow(readStackFile(file).site, file) : undefined;
  const baseText = atRef(file, base);
  const baseSite = baseText === undefined ? undefined : validOrThrow(parseStackFile(baseText, file).site, `${file} at ${base}`);
  if (!head && !baseSite) throw new StackFileError(`${file}: no such file, here or at ${base}`);
  process.stdout.write(reviewMarkdown(stack, { label: base, site: baseSite }, { label: "working tree", site: head }));
  return 0;
});
