// The provider leaves when the engine that started it dies without a word
// (kill -9 of the CLI), instead of living on with its SSH connections
// (issue 15, item 4).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "../../support/repoRoot";

const PLUGIN = path.join(REPO_ROOT, "provider", "bin", "pulumi-resource-multiwan");
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test("the provider exits within seconds of its engine's kill -9", { timeout: 30_000 }, async () => {
  // A stand-in engine: starts the plugin, prints its pid, then waits.
  const engine = spawn(
    process.execPath,
    [
      "-e",
      `const c = require("child_process").spawn(${JSON.stringify(PLUGIN)}, [], { stdio: ["ignore", "pipe", "inherit"] }); c.stdout.once("data", () => console.log(c.pid)); setInterval(() => {}, 1000);`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const pid = Number(await new Promise<string>((resolve) => engine.stdout.once("data", (d) => resolve(String(d).trim()))));
  assert.ok(pid > 0 && alive(pid), "the provider runs");
  engine.kill("SIGKILL");
  const end = Date.now() + 15_000;
  while (alive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  const left = alive(pid);
  if (left) process.kill(pid, "SIGKILL");
  assert.equal(left, false, "the orphaned provider exited by itself");
});
