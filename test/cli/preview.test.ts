// The pull-request view: an offline `npm run pulumi -- preview --stack home
// --diff` with the real CLI and provider. No gateway is reachable (none
// exists), so this also proves a preview never connects.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import YAML from "yaml";
import { REPO_ROOT, assertSuccess, runPulumi } from "../support/cli";

/**
 * The repository's project in a scratch directory: its own Pulumi.yaml that
 * points back at the compiled program and the provider plugin, and a copy of
 * the stack file. `stack init` writes an encryption salt into the stack file,
 * and a test must leave the tracked one alone.
 */
function scratchProject(work: string): string {
  const project = path.join(work, "project");
  fs.mkdirSync(path.join(project, "stacks"), { recursive: true });
  const spec = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), "utf8"));
  spec.main = path.join(REPO_ROOT, "dist", "index.js");
  for (const p of spec.plugins.providers) p.path = path.resolve(REPO_ROOT, p.path);
  fs.writeFileSync(path.join(project, "Pulumi.yaml"), YAML.stringify(spec));
  fs.copyFileSync(path.join(REPO_ROOT, "stacks", "Pulumi.home.yaml"), path.join(project, "stacks", "Pulumi.home.yaml"));
  return project;
}

test("offline preview of the home stack lists every planned resource", async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "mw-preview-"));
  const tracked = path.join(REPO_ROOT, "stacks", "Pulumi.home.yaml");
  const before = fs.readFileSync(tracked, "utf8");
  const env = { PULUMI_BACKEND_URL: `file://${work}`, PULUMI_CONFIG_PASSPHRASE: "preview" };
  try {
    const project = scratchProject(work);
    assertSuccess(await runPulumi(["stack", "init", "home"], { cwd: project, env }));
    const preview = assertSuccess(await runPulumi(["preview", "--stack", "home", "--diff"], { cwd: project, env, timeoutMs: 120_000 }));
    for (const name of [
      "home-host",
      "home-table-isp1",
      "home-table-isp2",
      "home-rule-isp1",
      "home-rule-isp2",
      "home-mark-isp1",
      "home-mark-isp2",
      "home-multipath",
      "home-pinned-isp2",
      "home-masquerade-isp1",
      "home-masquerade-isp2",
      "home-forward",
      "home-health",
      "home-confirm",
    ]) {
      assert.match(preview.output, new RegExp(`::${name}\\]`), `${name} is in the preview`);
    }
    // 13 resources, the run's Confirmation, the gateway's provider, the component and the stack.
    assert.match(preview.output, /\+ 17 to create/);
    assert.match(preview.output, /weight\s*: 2/);
    // Readable in a pull request: each resource once, the connection once (in the gateway's provider).
    const lines = preview.stdout.trimEnd().split("\n").length;
    // 234 lines with the run's Confirmation (issue 16's bound is 250).
    assert.ok(lines <= 250, `the first preview is ${lines} lines (at most 250)`);
    assert.equal(preview.stdout.match(/address\s*: "192\.168\.3\.100"/g)?.length, 1);
    assert.doesNotMatch(preview.stdout, /connection\s*:|removeScript/);
    assert.equal(fs.readFileSync(tracked, "utf8"), before, "the repository's stack file is untouched");
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
