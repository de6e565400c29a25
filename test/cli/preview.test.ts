// The pull-request view: an offline `npm run pulumi -- preview --stack home
// --diff` with the real CLI and provider. No gateway is reachable (none
// exists), so this also proves a preview never connects.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { REPO_ROOT, assertSuccess, runPulumi } from "../support/cli";

test("offline preview of the home stack lists every planned resource", async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "mw-preview-"));
  const repoStack = path.join(REPO_ROOT, "stacks", "Pulumi.home.yaml");
  const original = fs.readFileSync(repoStack, "utf8");
  const env = { PULUMI_BACKEND_URL: `file://${work}`, PULUMI_CONFIG_PASSPHRASE: "preview" };
  try {
    // `stack init` adds an encryption salt to the stack file: keep the repository's copy as it was.
    assertSuccess(await runPulumi(["stack", "init", "home"], { cwd: REPO_ROOT, env }));
    fs.writeFileSync(repoStack, original);
    const preview = assertSuccess(await runPulumi(["preview", "--stack", "home", "--diff"], { cwd: REPO_ROOT, env, timeoutMs: 120_000 }));
    for (const name of ["home-host", "home-table-isp1", "home-table-isp2", "home-rule-isp1", "home-rule-isp2", "home-multipath", "home-pinned-isp2", "home-masquerade-isp1", "home-masquerade-isp2", "home-forward"]) {
      assert.match(preview.output, new RegExp(`::${name}\\]`), `${name} is in the preview`);
    }
    assert.match(preview.output, /\+ 12 to create/);
    assert.match(preview.output, /weight\s*: 2/);
    assert.match(preview.output, /"rule 1001: from 192\.168\.1\.1 lookup 101 proto 77"/);
  } finally {
    fs.writeFileSync(repoStack, original);
    fs.rmSync(work, { recursive: true, force: true });
  }
});
