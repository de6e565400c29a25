// Stacks deployed before the explicit provider migrate without a replace and
// without touching the box. The state is what commit 47455bd wrote for the
// home site (test/fixtures/migration, made by capture.ts): every resource
// with its own connection and preflight, on the default provider. The next
// `up` with today's program moves each resource to its gateway's provider;
// the engine asks the new provider's DiffConfig whether that needs a
// replacement (it never does), and the provider's Diff and Update see that
// only the connection moved.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { MIGRATION_FIXTURES } from "../fixtures/migration/capture";
import { type FakeHost, startFakeHost } from "../support/fakeHost";
import { type GatewayProject, gatewayProject } from "../support/gatewayProject";
import { validSite } from "../support/fixtures";
import { readStackFile } from "../../cli/stackFile";
import { planSite } from "../../lib/plan";
import { expectedState, kindOf } from "../../lib/render";
import { planResources } from "../../lib/resources";

describe("a stack written before the explicit provider migrates on the next up", { timeout: 300_000 }, () => {
  let fake: FakeHost;
  let project: GatewayProject;

  before(async () => {
    fake = await startFakeHost();
    project = gatewayProject();
    // The old stack file keeps its encryption salt, so the old state's secrets decrypt.
    fs.copyFileSync(path.join(MIGRATION_FIXTURES, "Pulumi.home.yaml"), path.join(project.dir, "stacks", "Pulumi.home.yaml"));
    await project.pulumi(["stack", "init", "home"]);
    await project.pulumi(["stack", "import", "--stack", "home", "--file", path.join(MIGRATION_FIXTURES, "home.state.json")]);
    // The gateway as it is today; the old state still names the address it was deployed to.
    project.editSite("home", (s) => {
      s.host = { address: fake.address, port: fake.port, user: "root", hostKey: fake.hostKeyLine };
    });
    await project.pulumi(["config", "set", "--secret", "multiwan:sshPrivateKey", "--stack", "home"], { input: fake.clientPrivateKey! });
  });

  after(async () => {
    project?.cleanup();
    await fake?.close();
  });

  it("the imported state is the old shape: connection and preflight in every resource, the default provider", async () => {
    const state = await project.exportState("home");
    const resources = (state.deployment.resources ?? []).filter((r) => /^multiwan:index:(?!MultiWanGateway)/.test(r.type));
    assert.equal(resources.length, 12);
    for (const r of resources) {
      assert.ok(r.inputs?.connection && r.inputs?.preflight, r.urn);
      assert.match(r.provider ?? "", /pulumi:providers:multiwan::default/);
    }
  });

  it("preview shows updates that drop the old connection and preflight, and no replace", async () => {
    const r = await project.pulumi(["preview", "--stack", "home", "--diff"]);
    assert.doesNotMatch(r.stdout, /replace/, r.stdout);
    assert.match(r.stdout, /~ 12 to update/, r.stdout);
    assert.match(r.stdout, /- connection/);
    assert.equal(fake.connections, 0, "a preview never connects");
  });

  it("up moves every resource to the gateway's provider; only resources whose entry or kernel state changed since run a script", async () => {
    const before = await project.exportState("home");
    const r = await project.pulumi(["up", "--yes", "--stack", "home"]);
    assert.doesNotMatch(r.stdout, /replaced/, r.stdout);
    assert.match(r.stdout, /~ 12 updated/, r.stdout);
    // Features that landed after the captured commit may change a resource's
    // entry or the kernel state it owns (a new file, another rule); that
    // resource then applies, as any update does. The move to the explicit
    // provider itself must run nothing.
    const site = validSite(readStackFile(path.join(project.dir, "stacks", "Pulumi.home.yaml")).site);
    const sorted = (v: unknown) =>
      JSON.stringify(v, (_k, x) => (x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort()) : x));
    const entryChanged = planResources(planSite(site))
      .filter((p) => {
        const old = (before.deployment.resources ?? []).find((x) => x.urn.endsWith(`::home-${p.key}`));
        const { connection: _c, preflight: _p, kernelState, ...oldEntry } = (old?.inputs ?? {}) as Record<string, unknown>;
        return sorted(oldEntry) !== sorted(p.entry) || sorted(kernelState) !== sorted(expectedState(p.kind, p.entry as never));
      })
      .map((p) => kindOf(p.kind).title(p.entry as never));
    const applied = fake.scripts.map((x) => x.match(/^# multiwan: (.*): apply$/m)?.[1]).filter(Boolean);
    assert.deepEqual(applied.sort(), entryChanged.sort(), "scripts ran for exactly the resources whose entry or kernel state changed");
    const state = await project.exportState("home");
    const all = state.deployment.resources ?? [];
    assert.deepEqual(
      all.filter((x) => x.type === "pulumi:providers:multiwan").map((x) => x.urn.split("::").pop()),
      ["home"],
      "the default provider is gone; the gateway's own remains",
    );
    // The run's Confirmation (created by this up) has nothing on the box: no remove script, no kernel state.
    for (const x of all.filter((x) => /^multiwan:index:(?!MultiWanGateway|Confirmation)/.test(x.type))) {
      assert.equal(x.inputs?.connection, undefined, `${x.urn} still carries its connection`);
      assert.equal(x.outputs?.preflight, undefined, `${x.urn} still carries its preflight`);
      assert.equal(typeof x.outputs?.removeScript, "string", `${x.urn} keeps its remove script`);
      assert.ok(Array.isArray(x.outputs?.kernelState), `${x.urn} keeps its kernel state`);
    }
    await project.pulumi(["preview", "--stack", "home", "--expect-no-changes"]);
  });

  it("after the migration a weight change reaches the box through the provider", async () => {
    project.editSite("home", (s) => {
      s.uplinks[0].weight = 3;
    });
    const scriptsBefore = fake.scripts.length;
    const r = await project.pulumi(["up", "--yes", "--stack", "home"]);
    // The multipath route, and the run's Confirmation (its digest changed with it).
    assert.match(r.stdout, /~ 2 updated/, r.stdout);
    const applied = fake.scripts
      .slice(scriptsBefore)
      .map((s) => s.match(/^# multiwan: (.*): apply$/m)?.[1])
      .filter(Boolean);
    assert.deepEqual(applied, ["MultipathDefaultRoute (table 200)"]);
  });
});
