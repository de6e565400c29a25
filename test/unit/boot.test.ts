// The boot runner's pieces, checked without a host: the unit passes systemd's
// own verifier, and the runner and hook are valid sh that touch only what the
// site names.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { BOOT_RUNNER, renderBootRunner, renderLinkHook, renderUnit } from "../../lib/render/boot";
import { stackPlan } from "../support/fixtures";
import { requireTool } from "../support/tools";

test("the systemd unit passes `systemd-analyze verify`", (t) => {
  if (!requireTool(t, "systemd-analyze", "systemd")) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mw-unit-"));
  try {
    const unit = path.join(dir, "multiwan.service");
    fs.writeFileSync(unit, renderUnit());
    const r = spawnSync("systemd-analyze", ["verify", unit], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      r.stderr
        .split("\n")
        .filter((l) => l.includes("multiwan.service"))
        .join("\n"),
      "",
      "no complaint about our unit",
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the unit runs the runner once at boot, after the network, and retries while an interface is late", () => {
  const unit = renderUnit();
  assert.match(unit, new RegExp(`^ExecStart=/bin/sh ${BOOT_RUNNER}$`, "m"));
  assert.match(unit, /^Type=oneshot$/m);
  assert.match(unit, /^After=network-online\.target/m);
  assert.match(unit, /^Restart=on-failure$/m);
  assert.match(unit, /^WantedBy=multi-user\.target$/m);
});

test("runner and hook are valid sh, wait for exactly the site's interfaces, and hook only the site's links", () => {
  for (const site of ["home", "office"] as const) {
    const host = stackPlan(site).host;
    for (const text of [renderBootRunner(host), renderLinkHook(host)]) {
      const r = spawnSync("sh", ["-n"], { input: text, encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
    }
    const runner = renderBootRunner(host);
    for (const i of host.interfaces) assert.ok(runner.includes(`grep -q " inet ${i.address} "`), `${site}: waits for ${i.name}`);
    assert.match(runner, /for f in \/etc\/multiwan\/apply\.d\/\*\.sh; do/);
    assert.match(renderLinkHook(host), new RegExp(`case "\\$\\{IFACE:-\\}" in ${host.interfaces.map((i) => i.name).join("\\|")}\\)`));
  }
});
