// Fixture helpers for the unit tests: the repository's stack files as sites,
// the render fixtures under test/fixtures/render, and small site edits.
// Every path is resolved from the repository root (the source tree, not dist/).
import fs from "node:fs";
import path from "node:path";
import { readStackFile } from "../../cli/stackFile";
import { planSite, type Plan } from "../../lib/plan";
import { planResources, type PlannedResource } from "../../lib/resources";
import { renderScripts, type ResourceKind, type EntryByKind } from "../../lib/render";
import type { Site } from "../../lib/schema";
import { validateSite } from "../../lib/validate";
import { REPO_ROOT } from "../../support/repoRoot";

export const RENDER_FIXTURES = path.join(REPO_ROOT, "test", "fixtures", "render");
export const GOLDEN_DIR = path.join(REPO_ROOT, "test", "golden");
export const FACTS_FIXTURES = path.join(REPO_ROOT, "test", "fixtures", "facts");

export type StackName = "home" | "office";

const stackCache = new Map<StackName, unknown>();

/** The raw `gateway:site` of stacks/Pulumi.<name>.yaml, as a fresh deep copy (safe to edit). */
export function rawSite(name: StackName): Record<string, any> {
  if (!stackCache.has(name)) stackCache.set(name, readStackFile(path.join(REPO_ROOT, "stacks", `Pulumi.${name}.yaml`)).site);
  return structuredClone(stackCache.get(name)) as Record<string, any>;
}

/** A raw site after `edit` (which may mutate it, or return a replacement). */
export function editedSite(name: StackName, edit: (site: Record<string, any>) => unknown): unknown {
  const site = rawSite(name);
  const replaced = edit(site);
  return replaced === undefined ? site : replaced;
}

/** Validates and asserts success; the problems are in the error if not. */
export function validSite(raw: unknown): Site {
  const result = validateSite(raw);
  if (!result.ok) throw new Error(`expected a valid site, got:\n${result.problems.join("\n")}`);
  return result.site;
}

export function stackSite(name: StackName, backend?: "nftables" | "iptables"): Site {
  const raw = rawSite(name);
  if (backend) raw.nat = { backend };
  return validSite(raw);
}

export function stackPlan(name: StackName, backend?: "nftables" | "iptables"): Plan {
  return planSite(stackSite(name, backend));
}

export interface RenderedResource {
  resource: PlannedResource;
  apply: string;
  remove: string;
  read: string;
}

/** Every resource of a plan with its three scripts. */
export function renderAll(plan: Plan): RenderedResource[] {
  return planResources(plan).map((resource) => ({
    resource,
    ...renderScripts(resource.kind, resource.entry as never),
  }));
}

/**
 * One render fixture, a folder <kind>/<case>/: the entry (entry.json) and
 * exactly what the renderer makes of it, as the box keeps it (apply.sh,
 * remove.sh, read.sh: each sources the prelude) and the state a matching
 * host reads back as (expected.txt).
 */
export interface RenderFixture<K extends ResourceKind = ResourceKind> {
  entry: EntryByKind[K];
  apply: string;
  remove: string;
  read: string;
  expected: string[];
}

const SCRIPT_FILES = ["apply", "remove", "read"] as const;

export function readRenderFixture(dir: string): RenderFixture {
  const text = (name: string) => fs.readFileSync(path.join(dir, name), "utf8");
  const [apply, remove, read] = SCRIPT_FILES.map((part) => text(`${part}.sh`));
  return { entry: JSON.parse(text("entry.json")), apply, remove, read, expected: text("expected.txt").split("\n").filter(Boolean) };
}

export function writeRenderFixture(dir: string, fixture: RenderFixture): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "entry.json"), `${JSON.stringify(fixture.entry, null, 2)}\n`);
  for (const part of SCRIPT_FILES) fs.writeFileSync(path.join(dir, `${part}.sh`), fixture[part]);
  fs.writeFileSync(path.join(dir, "expected.txt"), `${fixture.expected.join("\n")}\n`);
}

/** The case folders of a kind's fixture folder, sorted; [] when it is missing. */
export function caseDirs(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => path.join(dir, d.name))
    .sort();
}

/** One facts fixture: what a real host's read printed for an entry, and the state it parses to. */
export interface FactsFixture {
  description: string;
  entry: unknown;
  output: string;
  state: string[];
}

/** One invalid-input fixture: a whole raw site and every problem it must report. */
export interface InvalidFixture {
  description?: string;
  site: unknown;
  problems: string[];
}

export function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, "utf8")) as T;
}

/** The *.json files of a directory, sorted; [] when the directory is missing. */
export function jsonFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => path.join(dir, f));
}

export function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}
