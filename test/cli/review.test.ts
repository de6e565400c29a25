// `npm run review` as the pull-request workflow runs it: in a git checkout,
// the stack file edited in the working tree, the base given as a ref. The
// output is the same Markdown the unit tier pins in test/golden/review.*.md.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { REPO_ROOT, assertSuccess } from "../support/cli";
import { editStackSite } from "../support/gatewayProject";
import { run } from "../../support/proc";
import { REVIEW_CASES, reviewGolden } from "../support/reviewCases";

const REVIEW = path.join(REPO_ROOT, "dist", "cli", "review", "main.js");

for (const name of Object.keys(REVIEW_CASES) as (keyof typeof REVIEW_CASES)[]) {
  test(`npm run review -- --stack home --base <ref> prints the ${name} golden for a ${name} change`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mw-review-"));
    try {
      fs.mkdirSync(path.join(dir, "stacks"));
      fs.copyFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
      fs.copyFileSync(path.join(REPO_ROOT, "stacks", "Pulumi.home.yaml"), path.join(dir, "stacks", "Pulumi.home.yaml"));
      const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", ...args], { cwd: dir });
      git("init", "-q", "-b", "main");
      git("add", ".");
      git("commit", "-qm", "base");
      editStackSite(path.join(dir, "stacks", "Pulumi.home.yaml"), REVIEW_CASES[name]);
      const r = assertSuccess(
        await run([process.execPath, REVIEW, "--stack", "home", "--base", "main"], { cwd: path.join(dir, "stacks") }),
      );
      const expected = fs
        .readFileSync(reviewGolden(name), "utf8")
        .replace("HEAD → working tree", "main → working tree")
        .replaceAll("(HEAD)", "(main)");
      assert.equal(r.stdout, expected);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("a stack file that is new in the working tree is all creates", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mw-review-"));
  try {
    fs.mkdirSync(path.join(dir, "stacks"));
    fs.copyFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", "init", "-q"], { cwd: dir });
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "empty"], { cwd: dir });
    fs.copyFileSync(path.join(REPO_ROOT, "stacks", "Pulumi.home.yaml"), path.join(dir, "stacks", "Pulumi.home.yaml"));
    const r = assertSuccess(await run([process.execPath, REVIEW, "--stack", "home"], { cwd: dir }));
    assert.match(r.stdout, /13 to create, 0 to update, 0 to replace, 0 to delete/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
