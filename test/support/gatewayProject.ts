// A multiwan project in a scratch directory for tests that drive the real
// CLI: its own Pulumi.yaml pointing back at the compiled program and the
// provider plugin, a stack file per site, and a file state backend of its
// own. `stack init` writes an encryption salt into the stack file, and a test
// must leave the tracked stack files alone.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import YAML from "yaml";
import { REPO_ROOT, type RunResult, assertSuccess, describeRun, runPulumi } from "./cli";
import { LEGACY_SITE_KEY, SITE_KEY } from "../../lib/siteSource";

export interface GatewayProject {
  dir: string;
  /** Runs `pulumi <args>` in the project; throws unless it succeeds (or, with expectFailure, unless it fails). */
  pulumi(args: string[], opts?: { input?: string; expectFailure?: boolean; timeoutMs?: number }): Promise<RunResult>;
  /** The stack file's site (`gateway:site`), edited in place. */
  editSite(stack: string, edit: (site: Record<string, any>) => void): void;
  /** `stack export`, parsed. */
  exportState(stack: string): Promise<{ deployment: { resources?: StateResource[] } }>;
  cleanup(): void;
}

export interface StateResource {
  urn: string;
  type: string;
  provider?: string;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
}

export interface GatewayProjectOptions {
  /** The program's compiled entry point. Default: the repository's dist/index.js. */
  main?: string;
  /** The folder holding pulumi-resource-multiwan. Default: the repository's provider/bin. */
  pluginDir?: string;
}

export function gatewayProject(opts: GatewayProjectOptions = {}): GatewayProject {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mw-project-"));
  const project = path.join(dir, "project");
  fs.mkdirSync(path.join(project, "stacks"), { recursive: true });
  const state = path.join(dir, "state");
  fs.mkdirSync(state);
  writeProjectFile(project, opts);
  const env = {
    PULUMI_BACKEND_URL: `file://${state}`,
    PULUMI_CONFIG_PASSPHRASE: "gateway-project-test",
    PULUMI_HOME: path.join(dir, "pulumi-home"),
  };
  const stackFile = (stack: string) => path.join(project, "stacks", `Pulumi.${stack}.yaml`);
  const self: GatewayProject = {
    dir: project,
    async pulumi(args, o = {}) {
      const r = await runPulumi(args, { cwd: project, env, input: o.input, timeoutMs: o.timeoutMs ?? 120_000 });
      if (o.expectFailure) {
        if (r.code === 0 || r.timedOut) throw new Error(`expected a failure:\n${describeRun(r)}`);
        return r;
      }
      return assertSuccess(r);
    },
    editSite: (stack, edit) => editStackSite(stackFile(stack), edit),
    async exportState(stack) {
      return JSON.parse((await self.pulumi(["stack", "export", "--stack", stack])).stdout);
    },
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
  return self;
}

/** Edits a stack file's site in place, keeping the rest (its salt, its secrets). */
export function editStackSite(file: string, edit: (site: Record<string, any>) => void): void {
  const doc = YAML.parseDocument(fs.readFileSync(file, "utf8"));
  // A stack written before the move keeps its site under multiwan:site.
  const key = doc.hasIn(["config", SITE_KEY]) ? SITE_KEY : LEGACY_SITE_KEY;
  const plain = (doc.getIn(["config", key]) as YAML.YAMLMap).toJSON() as Record<string, any>;
  edit(plain);
  doc.setIn(["config", key], doc.createNode(plain));
  fs.writeFileSync(file, doc.toString());
}

/** Points the project at a program and a plugin folder (both absolute). */
export function writeProjectFile(project: string, opts: GatewayProjectOptions = {}): void {
  const spec = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), "utf8"));
  spec.main = opts.main ?? path.join(REPO_ROOT, "dist", "index.js");
  for (const p of spec.plugins.providers) p.path = opts.pluginDir ?? path.resolve(REPO_ROOT, p.path);
  fs.writeFileSync(path.join(project, "Pulumi.yaml"), YAML.stringify(spec));
}

/** Writes stacks/Pulumi.<stack>.yaml with this site (and keeps the rest of an existing file, e.g. its salt). */
export function writeStackFile(project: string, stack: string, site: Record<string, unknown>): void {
  const file = path.join(project, "stacks", `Pulumi.${stack}.yaml`);
  const existing = fs.existsSync(file) ? (YAML.parse(fs.readFileSync(file, "utf8")) ?? {}) : {};
  existing.config = { ...(existing.config ?? {}), [SITE_KEY]: site };
  fs.writeFileSync(file, YAML.stringify(existing));
}

/** The preview's own lines: what a reviewer pastes, without trailing blank lines. */
export const previewLines = (r: RunResult) => r.stdout.trimEnd().split("\n");
