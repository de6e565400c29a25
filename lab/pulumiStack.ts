// A Pulumi stack for a lab, kept entirely in a work directory of the lab's:
// its state backend and its config file (passed with --config-file). `stack
// init` writes the stack's encryption salt into stacks/Pulumi.<stack>.yaml
// of the repository; it is moved into the lab's config file at once, so a
// lab never leaves a file in the working tree.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "../support/repoRoot";

const PULUMI = path.join(REPO_ROOT, "dist", "cli", "pulumi.js");

export interface LabStack {
  stack: string;
  configFile: string;
  env: NodeJS.ProcessEnv;
  /** Arguments every pulumi command of this stack needs. */
  args: string[];
}

export function initLabStack(labName: string, stackFile: string, privateKey: string, workDir: string): LabStack {
  const stack = `lab-${labName}`;
  fs.mkdirSync(path.join(workDir, "state"), { recursive: true });
  const configFile = path.join(workDir, `Pulumi.${stack}.yaml`);
  fs.copyFileSync(stackFile, configFile);
  const env = {
    ...process.env,
    PULUMI_BACKEND_URL: `file://${workDir}/state`,
    PULUMI_CONFIG_PASSPHRASE: process.env.PULUMI_CONFIG_PASSPHRASE ?? "lab",
  };
  const pulumi = (args: string[], input?: string) => {
    const r = spawnSync(process.execPath, [PULUMI, ...args], { cwd: REPO_ROOT, env, input, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`pulumi ${args[0]} ${args[1] ?? ""} failed: ${r.stderr || r.stdout}`);
  };
  const repoStackFile = path.join(REPO_ROOT, "stacks", `Pulumi.${stack}.yaml`);
  try {
    pulumi(["stack", "init", stack]);
    const salt = fs
      .readFileSync(repoStackFile, "utf8")
      .split("\n")
      .find((l) => l.startsWith("encryptionsalt:"));
    if (salt) fs.appendFileSync(configFile, `${salt}\n`);
  } finally {
    fs.rmSync(repoStackFile, { force: true });
  }
  const args = ["--stack", stack, "--config-file", configFile];
  pulumi(["config", "set", "--secret", "multiwan:sshPrivateKey", ...args], privateKey);
  return { stack, configFile, env, args };
}
