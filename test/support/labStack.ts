// One lab with its own Pulumi stack, for the end-to-end tests: brought up in
// `before`, destroyed and torn down in `after` (also when a test failed).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse, stringify } from "yaml";
import { type GatewaySnapshot, type Lab, labUp } from "../../lab/lab";
import { initLabStack } from "../../lab/pulumiStack";
import { scratchDir } from "../../support/proc";
import { type RunOptions, type RunResult, assertSuccess, REPO_ROOT, runPulumi } from "./cli";

export interface LabStackSession {
  lab: Lab;
  /** The gateway before the first up. */
  pristine: GatewaySnapshot;
  /** The stack's name and where its file backend keeps the state. */
  stack: string;
  stateDir: string;
  /** The stack's config file (gateway:site). */
  configFile: string;
  /** The environment every pulumi command of this stack runs with. */
  env: NodeJS.ProcessEnv;
  /** Arguments every pulumi command of this stack needs (--stack, --config-file). */
  args: string[];
  /** Runs a pulumi command against the lab's stack. */
  pulumi(...args: string[]): Promise<RunResult>;
  /** The same with more run options (e.g. onOutput, which hands over the child to signal it midway). */
  pulumiWith(opts: Pick<RunOptions, "onOutput">, ...args: string[]): Promise<RunResult>;
  /** `pulumi stack export`, parsed: every resource's inputs and outputs. */
  stackExport(): Promise<any>;
  /** Edits the stack's `gateway:site` in place. */
  editSite(edit: (site: Record<string, any>) => void): void;
  /** Set by the tests once an up succeeded, so `after` destroys. */
  deployed: boolean;
  /** What a user does after a CLI was killed mid-run (the error message says so): deletes the stack's lock files. */
  unlock(): void;
  /** Destroys what is deployed and tears the lab down. */
  close(): Promise<void>;
}

export async function openLabStack(backend: "nftables" | "iptables"): Promise<LabStackSession> {
  const lab = await labUp({ nat: backend, guard: true, log: () => {} });
  // A scratch dir: removed on exit even when a signal ends the test before `after`.
  const work = scratchDir(fs.mkdtempSync(path.join(os.tmpdir(), "mw-e2e-")));
  const pristine = await lab.snapshot();
  const { configFile, env, args, stack } = initLabStack(lab.name, lab.stackFile, fs.readFileSync(lab.privateKeyPath, "utf8"), work);
  const session: LabStackSession = {
    lab,
    pristine,
    stack,
    stateDir: path.join(work, "state"),
    configFile,
    env,
    args,
    deployed: false,
    pulumi: (...cmd) => runPulumi([...cmd, ...args], { cwd: REPO_ROOT, env, timeoutMs: 120_000 }),
    pulumiWith: (opts, ...cmd) => runPulumi([...cmd, ...args], { cwd: REPO_ROOT, env, timeoutMs: 120_000, ...opts }),
    async stackExport() {
      // `stack export` takes no --config-file.
      const r = assertSuccess(await runPulumi(["stack", "export", "--stack", stack], { cwd: REPO_ROOT, env, timeoutMs: 120_000 }));
      return JSON.parse(r.stdout);
    },
    unlock() {
      fs.rmSync(path.join(work, "state", ".pulumi", "locks"), { recursive: true, force: true });
    },
    editSite(edit) {
      const doc = parse(fs.readFileSync(configFile, "utf8"));
      edit(doc.config["gateway:site"]);
      fs.writeFileSync(configFile, stringify(doc));
    },
    async close() {
      try {
        if (session.deployed) assertSuccess(await session.pulumi("destroy", "--yes"));
      } finally {
        await lab.down();
        fs.rmSync(work, { recursive: true, force: true });
      }
    },
  };
  return session;
}
