// multiwan as a package another Pulumi program uses: `npm pack` of this
// repository, installed into a throwaway project outside it whose program
// builds two MultiWanGateways, previewed offline with the plugin the tarball
// carries (named in that project's Pulumi.yaml, as the README shows).
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import YAML from "yaml";
import { run } from "../../support/proc";
import { REPO_ROOT, assertSuccess, runPulumi } from "../support/cli";
import { rawSite } from "../support/fixtures";

const PROGRAM = `"use strict";
const pulumi = require("@pulumi/pulumi");
const { MultiWanGateway, parseSiteOrThrow } = require("multiwan");

module.exports = async () => {
  const config = new pulumi.Config();
  const gateways = ["home", "office"].map(
    (site) => new MultiWanGateway(site, { site: parseSiteOrThrow(config.requireObject(site + "Site")) }),
  );
  return { uplinks: gateways.map((g) => g.uplinks.length) };
};
`;

describe("npm pack: a tarball another Pulumi project installs and previews", { timeout: 300_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mw-consumer-"));
  const project = path.join(dir, "sites");
  const env = {
    PULUMI_BACKEND_URL: `file://${path.join(dir, "state")}`,
    PULUMI_CONFIG_PASSPHRASE: "consumer",
    PULUMI_HOME: path.join(dir, "home"),
  };
  let tarball = "";

  before(async () => {
    fs.mkdirSync(project);
    fs.mkdirSync(path.join(dir, "state"));
    const pack = assertSuccess(await run(["npm", "pack", "--silent", "--pack-destination", dir], { cwd: REPO_ROOT, timeoutMs: 120_000 }));
    tarball = path.join(dir, pack.stdout.trim().split("\n").pop()!);
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("carries the compiled provider, the plugin entry point and package.json's version", async () => {
    const list = assertSuccess(await run(["tar", "-tzvf", tarball], { cwd: dir })).stdout;
    for (const f of [
      "package/provider/bin/pulumi-resource-multiwan",
      "package/dist/provider/main.js",
      "package/dist/provider/server.js",
      "package/dist/index.js",
    ]) {
      assert.ok(list.includes(f), `${f} in the tarball`);
    }
    assert.match(list, /^-rwx.* package\/provider\/bin\/pulumi-resource-multiwan$/m, "the plugin is executable");
    assert.doesNotMatch(list, /package\/dist\/test\//, "no tests in the package");
    const version = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).version;
    assert.equal(path.basename(tarball), `multiwan-${version}.tgz`);
  });

  it("a project outside the repository installs it and previews two gateways offline", async () => {
    fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "sites", private: true, main: "index.js" }));
    fs.writeFileSync(path.join(project, "index.js"), PROGRAM);
    fs.writeFileSync(
      path.join(project, "Pulumi.yaml"),
      YAML.stringify({
        name: "sites",
        runtime: "nodejs",
        main: "index.js",
        // The one line the README tells a consuming project to add.
        plugins: { providers: [{ name: "multiwan", path: "./node_modules/multiwan/provider/bin" }] },
      }),
    );
    // The dependencies come from the npm cache that `npm ci` filled: no download.
    assertSuccess(
      await run(["npm", "install", "--prefer-offline", "--no-audit", "--no-fund", "--silent", tarball], {
        cwd: project,
        timeoutMs: 240_000,
      }),
    );
    const office = rawSite("office");
    fs.writeFileSync(
      path.join(project, "Pulumi.dev.yaml"),
      YAML.stringify({ config: { "sites:homeSite": rawSite("home"), "sites:officeSite": office } }),
    );
    assertSuccess(await runPulumi(["stack", "init", "dev"], { cwd: project, env }));
    const r = assertSuccess(await runPulumi(["preview", "--stack", "dev", "--diff"], { cwd: project, env, timeoutMs: 120_000 }));
    for (const gw of ["home", "office"]) {
      assert.match(r.stdout, new RegExp(`pulumi:providers:multiwan::${gw}\\]`), `${gw}'s provider`);
      assert.match(r.stdout, new RegExp(`multiwan:index:MultipathDefaultRoute::${gw}-multipath\\]`));
    }
    const resources = Number(r.stdout.match(/\+ (\d+) to create/)?.[1]);
    // The stack, per gateway the component, its provider and its resources.
    assert.ok(resources > 20, r.stdout);
    assert.ok(!fs.realpathSync(project).startsWith(fs.realpathSync(REPO_ROOT)), "the project is outside the repository");
  });
});
