// The multiwan provider's own gRPC server (provider/server.ts) against the
// real engine: the home site's whole lifecycle through `npm run pulumi`,
// with a recording fake SSH host in this process as the gateway. It checks
// what a reviewer reads (the size and content of `preview --diff`) and what
// the box receives (the scripts), and that the private key stays ciphertext.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type FakeHost, startFakeHost } from "../support/fakeHost";
import { rawSite } from "../support/fixtures";
import { type GatewayProject, gatewayProject, previewLines, writeStackFile } from "../support/gatewayProject";

const isPreflight = (s: string) => /^# multiwan: preflight/m.test(s);
const applies = (scripts: string[]) => scripts.filter((s) => /^# multiwan: .*: apply$/m.test(s));

describe("the provider's gRPC server under the engine: the home site against a recording host", { timeout: 400_000 }, () => {
  let fake: FakeHost;
  let project: GatewayProject;

  /** The site as the stack file holds it, pointed at the fake host. */
  function homeAt(host: FakeHost): Record<string, any> {
    const site = rawSite("home");
    site.host = { address: host.address, port: host.port, user: "root", hostKey: host.hostKeyLine };
    return site;
  }
  const takeScripts = () => fake.scripts.splice(0);

  before(async () => {
    fake = await startFakeHost();
    project = gatewayProject();
    writeStackFile(project.dir, "home", homeAt(fake));
    await project.pulumi(["stack", "init", "home"]);
    await project.pulumi(["config", "set", "--secret", "multiwan:sshPrivateKey", "--stack", "home"], { input: fake.clientPrivateKey! });
  });

  after(async () => {
    project?.cleanup();
    await fake?.close();
  });

  it("the first preview lists every resource in at most 250 lines and contacts nobody", async () => {
    const r = await project.pulumi(["preview", "--stack", "home", "--diff"]);
    const lines = previewLines(r);
    assert.ok(lines.length <= 250, `${lines.length} lines:\n${r.stdout}`);
    assert.match(r.stdout, /\+ 17 to create/);
    assert.doesNotMatch(r.stdout, /connection\s*:/);
    // The connection is said once, by the gateway's provider.
    assert.equal(r.stdout.match(/address\s*: "127\.0\.0\.1"/g)?.length, 1, r.stdout);
    assert.equal(fake.connections, 0, "a preview never connects");
  });

  it("up runs the preflight once, then one apply per resource", async () => {
    const r = await project.pulumi(["up", "--yes", "--stack", "home"]);
    assert.match(r.stdout, /\+ 17 created/);
    const scripts = takeScripts();
    assert.equal(scripts.filter(isPreflight).length, 1, "one preflight for the host");
    assert.equal(applies(scripts).length, 13);
    await project.pulumi(["preview", "--stack", "home", "--expect-no-changes"]);
  });

  it("a weight change is one update whose diff shows the weight and the kernel line, in at most 25 lines", async () => {
    project.editSite("home", (s) => {
      s.uplinks[0].weight = 3;
    });
    const r = await project.pulumi(["preview", "--stack", "home", "--diff"]);
    const lines = previewLines(r);
    // The route, and the run's Confirmation (whose digest is unknown until the route's update).
    assert.ok(lines.length <= 32, `${lines.length} lines:\n${r.stdout}`);
    assert.match(r.stdout, /~ 2 to update/);
    assert.doesNotMatch(r.stdout, /to (create|replace|delete)/);
    assert.match(r.stdout, /weight\s*: 2 => 3/);
    assert.match(r.stdout, /weight 2 nexthop .* => .*weight 3 nexthop/);
    assert.doesNotMatch(r.stdout, /connection\s*:|preflight|removeScript/);
    takeScripts();
    const up = await project.pulumi(["up", "--yes", "--stack", "home"]);
    assert.match(up.stdout, /~ 2 updated/);
    const scripts = takeScripts();
    assert.deepEqual(
      applies(scripts).map((s) => s.match(/^# multiwan: (.*): apply$/m)?.[1]),
      ["MultipathDefaultRoute (table 200)"],
    );
  });

  it("a table-id change replaces the routing table and names the field", async () => {
    project.editSite("home", (s) => {
      s.routing = { ...(s.routing ?? {}), tableBase: 110 };
    });
    const r = await project.pulumi(["preview", "--stack", "home", "--diff"]);
    assert.match(r.stdout, /\+-\s*multiwan:index:RoutingTable: \(replace\)/);
    assert.match(r.stdout, /~ table\s*: 101 => 111/);
    // The replacement shows the field that forces it, not its kernel state.
    assert.doesNotMatch(r.stdout, /- kernelState/);
    project.editSite("home", (s) => {
      delete s.routing;
    });
  });

  it("a new port and host key update the provider alone, and nothing runs on the box", async () => {
    const moved = await startFakeHost({ authorizedKey: fake.authorizedKey });
    try {
      writeStackFile(project.dir, "home", {
        ...homeAt(moved),
        uplinks: homeAt(fake).uplinks.map((u: any, i: number) => ({ ...u, weight: i === 0 ? 3 : u.weight })),
      });
      const r = await project.pulumi(["preview", "--stack", "home", "--diff"]);
      assert.match(r.stdout, /~ 1 to update/, r.stdout);
      assert.match(r.stdout, /pulumi:providers:multiwan: \(update\)/);
      assert.doesNotMatch(r.stdout, /replace/);
      await project.pulumi(["up", "--yes", "--stack", "home"]);
      assert.deepEqual(moved.scripts, [], "no script for a connection change");
      // ...and the next change reaches the box at its new address.
      project.editSite("home", (s) => {
        s.uplinks[0].weight = 2;
      });
      await project.pulumi(["up", "--yes", "--stack", "home"]);
      assert.equal(applies(moved.scripts).length, 1);
      assert.deepEqual(takeScripts(), [], "the old address is not used");
    } finally {
      writeStackFile(project.dir, "home", homeAt(fake));
      await project.pulumi(["up", "--yes", "--stack", "home"]);
      await moved.close();
    }
  });

  it("refresh reads every resource through the provider's connection", async () => {
    takeScripts();
    await project.pulumi(["refresh", "--yes", "--stack", "home"]);
    const reads = takeScripts()
      .map((s) => s.match(/^# multiwan: (.*): read$/m)?.[1])
      .filter(Boolean);
    // Each is read twice: for the refresh's preview, then for the refresh.
    assert.equal(new Set(reads).size, 13, reads.join("\n"));
  });

  it("the state keeps the private key as ciphertext, in the provider and nowhere else", async () => {
    const state = await project.exportState("home");
    const text = JSON.stringify(state);
    assert.ok(!text.includes("PRIVATE KEY"), "the private key is in plain text in the state");
    const providers = (state.deployment.resources ?? []).filter((r) => r.type === "pulumi:providers:multiwan");
    assert.equal(providers.length, 1);
    const key = providers[0].inputs?.privateKey as Record<string, unknown>;
    assert.ok(key && typeof key.ciphertext === "string", JSON.stringify(key));
    for (const res of state.deployment.resources ?? []) {
      if (!res.type.startsWith("multiwan:index:") || res.type.endsWith("MultiWanGateway")) continue;
      assert.equal(res.inputs?.connection, undefined, `${res.urn} carries a connection`);
      assert.equal(res.provider?.split("::")[3], "home", `${res.urn} uses the gateway's provider`);
    }
    for (const file of walk(path.dirname(project.dir))) {
      assert.ok(!fs.readFileSync(file, "latin1").includes("PRIVATE KEY-----\nb3Bl"), `plain key in ${file}`);
    }
  });

  it("destroy removes everything with the stored remove scripts", async () => {
    takeScripts();
    const r = await project.pulumi(["destroy", "--yes", "--stack", "home"]);
    assert.match(r.stdout, /- 17 deleted/);
    const removes = takeScripts().filter((s) => /^# multiwan: .*: remove$/m.test(s));
    assert.equal(removes.length, 13);
  });
});

function* walk(dir: string): Generator<string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile()) yield p;
  }
}
