// Issue 19's pure parts: the site's rollback field, and the guard's scripts
// (they pass shellcheck, name every file GatewayHost writes, and the boot
// runner checks for an armed snapshot before it applies anything).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { planSite } from "../../lib/plan";
import { LINK_HOOKS, UNIT_FILE, UNIT_WANTS, renderBootRunner } from "../../lib/render/boot";
import { GUARDED_FILES, holdPrefix, renderArm, renderConfirm, renderRollback } from "../../lib/render/rollback";
import { TABLE_NAMES_FILE } from "../../lib/kinds/gatewayHost";
import { validateSite } from "../../lib/validate";
import { editedSite, stackPlan, validSite } from "../support/fixtures";
import { requireTool } from "../support/tools";

const withRollback = (rollback: unknown) =>
  editedSite("home", (s) => {
    s.rollback = rollback;
  });

describe("site: rollback", () => {
  test("on by default with 60 s; 0 turns it off; 10..600 otherwise", () => {
    assert.deepEqual(validSite(editedSite("home", (s) => void delete s.rollback)).rollback, { afterSeconds: 60 });
    assert.deepEqual(planSite(validSite(editedSite("home", () => {}))).rollback, { afterSeconds: 60 });
    for (const ok of [0, 10, 600]) assert.equal(validSite(withRollback({ afterSeconds: ok })).rollback.afterSeconds, ok);
    for (const [bad, at] of [
      [{ afterSeconds: 9 }, "rollback.afterSeconds"],
      [{ afterSeconds: 601 }, "rollback.afterSeconds"],
      [{ afterSeconds: -1 }, "rollback.afterSeconds"],
      [{ afterSeconds: 12.5 }, "rollback.afterSeconds"],
      [{ afterSeconds: "60" }, "rollback.afterSeconds"],
      [{ afterSecs: 60 }, "rollback.afterSecs"],
    ] as const) {
      const result = validateSite(withRollback(bad));
      assert.ok(!result.ok, JSON.stringify(bad));
      const problems = (result as { problems: string[] }).problems;
      assert.ok(
        problems.some((p) => p.startsWith(`${at}: `)),
        `${JSON.stringify(bad)} at ${at}: ${problems.join("; ")}`,
      );
    }
  });
});

describe("the guard's scripts", () => {
  test("the snapshot covers every file GatewayHost writes outside /etc/multiwan", () => {
    assert.deepEqual([...GUARDED_FILES].sort(), [TABLE_NAMES_FILE, UNIT_FILE, UNIT_WANTS, ...LINK_HOOKS].sort());
  });

  test("the boot runner rolls an armed snapshot back before it applies any copy", () => {
    const runner = renderBootRunner(stackPlan("home").host);
    const check = runner.indexOf("/var/lib/multiwan/rollback/armed");
    assert.ok(check > 0);
    assert.ok(check < runner.indexOf("for f in /etc/multiwan/apply.d/*.sh"));
    assert.match(runner, /rollback\.sh --files-only/);
  });

  test("arming writes the snapshot and the scripts before it marks itself armed, and starts the sleeper last", () => {
    const arm = renderArm(60).join("\n");
    const at = (s: string) => arm.indexOf(s);
    assert.ok(at("cp -pR /etc/multiwan") < at('echo 60 >"$G/armed"'));
    assert.ok(at("sysctl.txt") < at('echo 60 >"$G/armed"'));
    assert.ok(at('rollback.sh" <<') < at('echo 60 >"$G/armed"'));
    assert.ok(at('echo 60 >"$G/armed"') < at("setsid"));
    assert.match(arm, /systemd-run --quiet --collect --unit=multiwan-rollback/);
    assert.match(arm, /-ge 60 \]/, "the sleeper's countdown");
  });

  test("they pass shellcheck", (t) => {
    if (!requireTool(t, "shellcheck", "shellcheck")) return;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mw-rollback-"));
    try {
      const files = {
        "arm.sh": `#!/bin/sh\n${renderArm(30).join("\n")}\n`,
        "rollback.sh": renderRollback(),
        "confirm.sh": `#!/bin/sh\n${renderConfirm()}`,
        "hold.sh": `#!/bin/sh\n${holdPrefix()}true\n`,
      };
      for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
      const r = spawnSync("shellcheck", ["-s", "sh", "-f", "gcc", ...Object.keys(files).map((f) => path.join(dir, f))], {
        encoding: "utf8",
      });
      assert.equal(r.stdout, "");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
