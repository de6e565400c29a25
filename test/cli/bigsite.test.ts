// 20,000 pinned routes through the real engine against a recording fake host
// (issue 15, item 5). The routes come from a file the site names; the site is
// under gateway:site. The provider plugin is started through a wrapper that
// records its environment: the engine hands it the `multiwan:*` config in
// PULUMI_CONFIG, and that must carry no site (Linux starts no process with an
// environment string over 128 kB).
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { REPO_ROOT } from "../../support/repoRoot";
import { type FakeHost, startFakeHost } from "../support/fakeHost";
import { rawSite } from "../support/fixtures";
import { type GatewayProject, gatewayProject, writeStackFile } from "../support/gatewayProject";

const ROUTES = 20_000;
const prefixes = Array.from({ length: ROUTES }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.0/24`);

describe(`${ROUTES.toLocaleString("en-US")} pinned routes from a route file: preview and up through the engine`, {
  timeout: 400_000,
}, () => {
  let fake: FakeHost;
  let project: GatewayProject;
  let pluginDir: string;
  let envDump: string;

  before(async () => {
    fake = await startFakeHost();
    pluginDir = fs.mkdtempSync(path.join(os.tmpdir(), "mw-plugin-"));
    envDump = path.join(pluginDir, "env.log");
    // The engine starts this instead of provider/bin's launcher: it records PULUMI_CONFIG, then runs the provider.
    fs.writeFileSync(
      path.join(pluginDir, "pulumi-resource-multiwan"),
      `#!/bin/sh\nprintf '%s\\n' "PULUMI_CONFIG=$PULUMI_CONFIG" >>'${envDump}'\nexec node '${path.join(REPO_ROOT, "dist", "provider", "main.js")}' "$@"\n`,
      { mode: 0o755 },
    );
    project = gatewayProject({ pluginDir });
    const site = rawSite("home");
    site.host = { address: fake.address, port: fake.port, user: "root", hostKey: fake.hostKeyLine };
    site.pinnedRoutes.push({ file: "prefixes/isp1.txt", uplink: "isp1" });
    fs.mkdirSync(path.join(project.dir, "stacks", "prefixes"));
    fs.writeFileSync(path.join(project.dir, "stacks", "prefixes", "isp1.txt"), `# ${ROUTES} test prefixes\n${prefixes.join("\n")}\n`);
    writeStackFile(project.dir, "big", site);
    await project.pulumi(["stack", "init", "big"]);
    await project.pulumi(["config", "set", "--secret", "multiwan:sshPrivateKey", "--stack", "big"], { input: fake.clientPrivateKey! });
  });

  after(async () => {
    project?.cleanup();
    if (pluginDir) fs.rmSync(pluginDir, { recursive: true, force: true });
    await fake?.close();
  });

  it("preview plans the pins without contacting the box", async () => {
    const r = await project.pulumi(["preview", "--stack", "big"]);
    // The gateway's resources, its provider, the component, the stack and the run's Confirmation.
    assert.match(r.stdout, /\+ 18 to create/, r.stdout);
    assert.equal(fake.connections, 0);
  });

  it("up sends each uplink's pins in one ip batch, and the provider's environment never carries the site", async () => {
    const r = await project.pulumi(["up", "--yes", "--stack", "big"], { timeoutMs: 300_000 });
    assert.match(r.stdout, /\+ 18 created/, r.stdout);
    const apply = fake.scripts.find((s) => /^# multiwan: PinnedRoutes isp1 \(20000 via 192\.168\.1\.254\): apply$/m.test(s));
    assert.ok(apply, "isp1's pins were applied");
    // Once to run and once in the boot copy the script keeps on the box.
    const replaces = apply.split("\n").filter((l) => l.startsWith("route replace "));
    assert.equal(replaces.length, 2 * ROUTES);
    assert.equal(new Set(replaces).size, ROUTES);
    // No line of the script is an argument near Linux's 128 kB limit: the lists are here-documents.
    assert.ok(apply.split("\n").every((l) => l.length < 1024));

    const envs = fs.readFileSync(envDump, "utf8").trimEnd().split("\n");
    assert.ok(envs.length >= 1, "the engine started the plugin");
    for (const line of envs) {
      assert.ok(line.length < 8 * 1024, `PULUMI_CONFIG is ${line.length} bytes`);
      assert.doesNotMatch(line, /uplinks|pinnedRoutes|10\.0\.0\.0/, line);
    }
    const state = await project.exportState("big");
    const pins = (state.deployment.resources ?? []).find((x) => x.urn.endsWith("::big-pinned-isp1"));
    assert.equal((pins?.inputs?.destinations as string[] | undefined)?.length, ROUTES);
  });
});
