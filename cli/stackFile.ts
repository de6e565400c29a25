// Reads the site out of a stack file (stacks/Pulumi.<site>.yaml) for the
// offline commands. Every failure becomes one line a person can act on.
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { type LoadedSite, SITE_KEY, loadSiteFromConfig } from "../lib/siteSource";

export { SITE_KEY };

export class StackFileError extends Error {}

export interface StackFile {
  file: string;
  /** "home" for Pulumi.home.yaml. */
  stack: string;
  /** The site, its route files expanded. */
  site: unknown;
  /** The config key it was read from: gateway:site, or multiwan:site in a stack written before. */
  key: string;
  /** What loading found: the size, the route files (the schema's problems come from validateLoaded). */
  loaded: LoadedSite;
}

export function readStackFile(file: string): StackFile {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new StackFileError(code === "ENOENT" ? `${file}: no such file` : `${file}: cannot read (${code ?? String(err)})`);
  }
  return parseStackFile(text, file);
}

/** The stack file's text (e.g. from `git show <ref>:<file>`); `file` names it in messages and gives the stack's name. */
export function parseStackFile(text: string, file: string): StackFile {
  let doc: unknown;
  try {
    doc = parse(text, { prettyErrors: false });
  } catch (err) {
    const first = String((err as Error).message).split("\n")[0];
    throw new StackFileError(`${file}: not valid YAML: ${first}`);
  }
  const config = (doc as { config?: Record<string, unknown> } | null)?.config;
  // Route files are beside the stack file, as the program finds them.
  const loaded = loadSiteFromConfig(config && typeof config === "object" ? config : {}, path.dirname(path.resolve(file)));
  if (loaded.key === undefined) throw new StackFileError(`${file}: ${loaded.problems[0]}`);
  const base = path
    .basename(file)
    .replace(/^Pulumi\./, "")
    .replace(/\.ya?ml$/, "");
  return { file, stack: base, site: loaded.site, key: loaded.key, loaded };
}

/** Runs a command body, turning expected failures into one line and exit 1. */
export function runCli(body: () => number): void {
  try {
    process.exitCode = body();
  } catch (err) {
    if (err instanceof StackFileError) {
      console.error(err.message);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
}
