// The program refuses an invalid site before anything is registered, and the
// CLI shows each problem once (issue 15, item 7): the SDK logs the report,
// and the language host answers "bail" instead of failing the call with the
// same text again.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type GatewayProject, gatewayProject, writeStackFile } from "../support/gatewayProject";
import { rawSite } from "../support/fixtures";

describe("an invalid site", { timeout: 120_000 }, () => {
  let project: GatewayProject;

  before(async () => {
    project = gatewayProject();
    const site = rawSite("home");
    site.uplinks[0].weight = 0;
    site.uplinks[1].gateway = "192.168.9.254";
    writeStackFile(project.dir, "bad", site);
    await project.pulumi(["stack", "init", "bad"]);
  });

  after(() => project?.cleanup());

  it("preview fails with every problem, each exactly once, and creates nothing", async () => {
    const r = await project.pulumi(["preview", "--stack", "bad"], { expectFailure: true });
    const text = `${r.stdout}\n${r.stderr}`;
    for (const problem of [
      "uplinks[0].weight: must be between 1 and 256",
      "uplinks[1].gateway: 192.168.9.254 is outside uplink isp2's subnet 192.168.2.0/24",
    ]) {
      assert.equal(text.split(problem).length - 1, 1, `"${problem}" once in:\n${text}`);
    }
    // The engine repeats the first line of an error on its progress line; the report itself comes once.
    assert.match(text, /gateway:site of stack "bad" is invalid \(2 problems\)/);
    assert.doesNotMatch(text, /multiwan:index:/, "no resource was registered");
  });
});
