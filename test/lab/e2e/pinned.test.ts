// 20,000 pinned routes deployed for real and destroyed (issue 15, item 5):
// from a route file the site names, through the engine, on the lab gateway.
// Under a minute: each uplink's pins go out in one ip -batch.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { assertRestored } from "../../support/gatewayState";
import { assertSuccess } from "../../support/cli";
import { type LabStackSession, openLabStack } from "../../support/labStack";

const ROUTES = 20_000;
/** 10.0.0.0/24 .. 10.78.31.0/24: none on a lab subnet. */
const prefixes = Array.from({ length: ROUTES }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.0/24`);

describe(`${ROUTES.toLocaleString("en-US")} pinned routes on the lab gateway`, { concurrency: false, timeout: 300_000 }, () => {
  let s: LabStackSession;
  let dir: string;
  const ours = async () => (await s.lab.exec("gw", "ip -4 route show table 200 proto 77 | grep -c '^10\\.'")).stdout.trim();

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "mw-pinned-"));
    const file = path.join(dir, "isp2.txt");
    fs.writeFileSync(file, `${prefixes.join("\n")}\n`);
    s = await openLabStack("nftables");
    // An absolute path: the lab's stack file is not in the project's stacks/.
    s.editSite((site) => site.pinnedRoutes.push({ file, uplink: "isp2" }));
  });

  after(async () => {
    try {
      await s?.close();
    } finally {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("up puts every route in table 200 through isp2", async () => {
    const t0 = Date.now();
    assertSuccess(await s.pulumi("up", "--yes"));
    s.deployed = true;
    const upS = (Date.now() - t0) / 1000;
    assert.equal(await ours(), String(ROUTES));
    const one = (await s.lab.exec("gw", "ip -4 route show table 200 10.78.31.0/24")).stdout.trim();
    assert.match(one, /^10\.78\.31\.0\/24 via 192\.168\.2\.254 dev eth2 proto 77/);
    console.log(`# first up of ${ROUTES} pinned routes: ${upS.toFixed(1)} s`);
  });

  test("refresh reads them all back without drift; destroy removes every one and restores the gateway", async () => {
    // The first refresh records every resource's kernel state; with nothing drifted the plan then wants no change.
    assertSuccess(await s.pulumi("refresh", "--yes"));
    assertSuccess(await s.pulumi("preview", "--expect-no-changes"));
    const state = await s.stackExport();
    const pins = state.deployment.resources.find((r: { urn: string }) => r.urn.endsWith("-pinned-isp2"));
    const read = (pins.outputs.kernelState as string[]).filter((l) => l.startsWith("route 10."));
    assert.equal(read.length, ROUTES, "the read fact holds every route");
    assertSuccess(await s.pulumi("destroy", "--yes"));
    s.deployed = false;
    assert.equal(await ours(), "0");
    assertRestored(await s.lab.snapshot(), s.pristine);
  });
});
