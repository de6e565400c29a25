// Smoke test of the health bench (`npm run bench:test`): one quick run
// against its own lab. Figures are printed, never asserted (wall time on a
// shared 2-core machine means nothing); that the table and every figure
// are there, and that the lab is gone afterwards, is.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "../../test/support/cli";

test("bench health (quick): the table with the anchors, figures for detect, recover and CPU", () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "mwbench-health-"));
  try {
    const r = spawnSync(process.execPath, [path.join(REPO_ROOT, "dist", "bench", "health.js")], {
      cwd: REPO_ROOT,
      env: { ...process.env, BENCH_QUICK: "1", BENCH_OUT: out },
      encoding: "utf8",
      timeout: 240_000,
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /\| multiwan: every new connection succeeds \/ isp1 carries connections again \| \d+\.\d s \| \d+\.\d s \|/);
    assert.match(r.stdout, /\| pfSense dpinger \| ≈15 s \| ≈56 s \|/);
    assert.match(r.stdout, /Monitor CPU, 3 uplinks × 2 targets every 500 ms, over 5 s: \d+\.\d\d % of one core/);
    const json = JSON.parse(fs.readFileSync(path.join(out, "health.json"), "utf8"));
    for (const k of ["detectS", "monitorDownS", "recoverS", "monitorUpS"]) assert.equal(typeof json.median[k], "number", k);
    assert.equal(typeof json.cpu.percentOfCore, "number");
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
