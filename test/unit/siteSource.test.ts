// Where the site comes from (issue 15, item 5): a key the engine does not
// hand to the provider plugin's environment, route files for long lists, and
// the sizes validation refuses above.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { readStackFile } from "../../cli/stackFile";
import { LEGACY_SITE_KEY, MAX_ENV_STRING, MAX_PINNED_ROUTES, SITE_KEY, loadSiteFromConfig, validateLoaded } from "../../lib/siteSource";
import { REPO_ROOT } from "../../support/repoRoot";
import { rawSite } from "../support/fixtures";

/** What the engine puts in a provider plugin's PULUMI_CONFIG (pkg/host/host.go, Provider): every key of the package's namespace. */
function providerConfigEnv(config: Record<string, string>, pkg: string): string {
  const mine = Object.fromEntries(
    Object.entries(config)
      .filter(([k]) => k.split(":")[0] === pkg)
      .map(([k, v]) => [k.slice(pkg.length + 1), v]),
  );
  return `PULUMI_CONFIG=${JSON.stringify(mine)}`;
}

const prefixes = (n: number) => Array.from({ length: n }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.0/24`);

function scratch(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "mw-site-"));
}

describe("the site's config key", () => {
  test("the stack files keep the site under gateway:site, outside the multiwan provider's namespace", () => {
    for (const name of ["home", "office"] as const) {
      const file = path.join(REPO_ROOT, "stacks", `Pulumi.${name}.yaml`);
      const { key } = readStackFile(file);
      assert.equal(key, SITE_KEY);
      assert.notEqual(SITE_KEY.split(":")[0], "multiwan");
      // As Pulumi encodes config for the engine: the site is a JSON string.
      const config = { [SITE_KEY]: JSON.stringify(rawSite(name)), "multiwan:sshPrivateKey": "key" };
      const env = providerConfigEnv(config, "multiwan");
      assert.ok(!env.includes("uplinks"), `the provider's environment carries no site: ${env}`);
    }
  });

  test("20,000 routes from a file: the provider's environment stays the size of its own keys", () => {
    const dir = scratch();
    fs.writeFileSync(path.join(dir, "isp2.txt"), `${prefixes(20_000).join("\n")}\n`);
    const raw = rawSite("home");
    raw.pinnedRoutes.push({ file: "isp2.txt", uplink: "isp2" });
    const config = { [SITE_KEY]: raw, "multiwan:sshPrivateKey": "key" };
    const loaded = loadSiteFromConfig(config, dir);
    const result = validateLoaded(loaded);
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.site.pinnedRoutes.length, 20_001);
    assert.equal(loaded.fromFiles, 20_000);
    const env = providerConfigEnv({ [SITE_KEY]: JSON.stringify(raw), "multiwan:sshPrivateKey": "key" }, "multiwan");
    assert.ok(env.length < 100, env);
    fs.rmSync(dir, { recursive: true });
  });

  test("multiwan:site still works; both keys at once, or neither, is one problem", () => {
    const legacy = loadSiteFromConfig({ [LEGACY_SITE_KEY]: rawSite("home") }, ".");
    assert.equal(legacy.key, LEGACY_SITE_KEY);
    assert.ok(validateLoaded(legacy).ok);
    const both = loadSiteFromConfig({ [LEGACY_SITE_KEY]: rawSite("home"), [SITE_KEY]: rawSite("home") }, ".");
    assert.deepEqual(both.problems, ["both gateway:site and multiwan:site are set: keep gateway:site and delete multiwan:site"]);
    assert.match(loadSiteFromConfig({}, ".").problems[0], /has no "gateway:site" under "config:"/);
  });
});

describe("the sizes validation refuses above", () => {
  test("an inline list too long for PULUMI_CONFIG names pinnedRoutes and the file form", () => {
    const raw = rawSite("home");
    raw.pinnedRoutes = prefixes(3_000).map((destination) => ({ destination, uplink: "isp2" }));
    assert.ok(JSON.stringify(JSON.stringify(raw)).length > MAX_ENV_STRING);
    const result = validateLoaded(loadSiteFromConfig({ [SITE_KEY]: raw }, "."));
    assert.ok(!result.ok);
    assert.match(
      result.problems[0],
      /^pinnedRoutes: gateway:site is \d+ kB with 3,000 inline destinations, too big for .* 128 kB: list them in a file/,
    );
    const legacy = validateLoaded(loadSiteFromConfig({ [LEGACY_SITE_KEY]: raw }, "."));
    assert.ok(!legacy.ok);
    assert.match(legacy.problems[0], /the provider's environment .*rename the key to gateway:site$/);
  });

  test("2,000 inline routes under multiwan:site, which deployed before, still validate", () => {
    const raw = rawSite("home");
    raw.pinnedRoutes = prefixes(2_000).map((destination) => ({ destination, uplink: "isp2" }));
    assert.ok(validateLoaded(loadSiteFromConfig({ [LEGACY_SITE_KEY]: raw }, ".")).ok);
  });

  test(`over ${MAX_PINNED_ROUTES.toLocaleString("en-US")} pinned routes in all is refused, naming pinnedRoutes`, () => {
    const dir = scratch();
    fs.writeFileSync(path.join(dir, "a.txt"), prefixes(MAX_PINNED_ROUTES).join("\n"));
    const raw = rawSite("home");
    raw.pinnedRoutes.push({ file: "a.txt", uplink: "isp1" });
    const result = validateLoaded(loadSiteFromConfig({ [SITE_KEY]: raw }, dir));
    assert.ok(!result.ok);
    assert.deepEqual(
      result.problems.filter((p) => p.startsWith("pinnedRoutes:")),
      [
        `pinnedRoutes: 50,001 destinations, at most 50,000 are supported (the most measured on the lab: first up 30 s, destroy 20 s); aggregate them into shorter prefixes`,
      ],
    );
    fs.rmSync(dir, { recursive: true });
  });
});

describe("route files", () => {
  test("comments and blank lines are skipped; a bad line is named by file and line, a wrong uplink once", () => {
    const dir = scratch();
    fs.writeFileSync(path.join(dir, "p.txt"), "# irc\n203.0.113.7/32   # the server\n\n300.1.1.1/32\n203.0.113.7/32\n");
    const raw = rawSite("home");
    raw.pinnedRoutes.push({ file: "p.txt", uplink: "isp9" });
    const result = validateLoaded(loadSiteFromConfig({ [SITE_KEY]: raw }, dir));
    assert.ok(!result.ok);
    assert.deepEqual(result.problems.sort(), [
      "pinnedRoutes[1].file (p.txt line 4): must be a destination prefix like 203.0.113.7/32 or 198.51.100.0/24",
      "pinnedRoutes[1].file (p.txt line 5): 203.0.113.7/32 is already pinned by pinnedRoutes[1].file (p.txt line 2)",
      'pinnedRoutes[1].uplink: names no uplink: "isp9" (uplinks are "isp1", "isp2")',
    ]);
    fs.rmSync(dir, { recursive: true });
  });

  test("a missing file, an empty one, and a field a file entry cannot have", () => {
    const dir = scratch();
    fs.writeFileSync(path.join(dir, "empty.txt"), "# nothing yet\n");
    const raw = rawSite("home");
    raw.pinnedRoutes.push({ file: "nope.txt", uplink: "isp2" }, { file: "empty.txt", uplink: "isp2", destination: "1.2.3.4/32" });
    const loaded = loadSiteFromConfig({ [SITE_KEY]: raw }, dir);
    assert.deepEqual(loaded.problems, [
      `pinnedRoutes[1].file: cannot read nope.txt (no such file in ${dir})`,
      'pinnedRoutes[2].destination: unknown field (an entry with "file" has only file, uplink and fallback)',
      "pinnedRoutes[2].file: empty.txt lists no destination",
    ]);
    fs.rmSync(dir, { recursive: true });
  });
});
