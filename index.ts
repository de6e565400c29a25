// The multiwan program: the stack's `gateway:site` (and the route files it
// names) -> validated site -> MultiWanGateway. This is the only place that
// reads Pulumi config. The site is not under `multiwan:`, so that the engine
// does not hand it to the provider plugin's environment (lib/siteSource.ts);
// `multiwan:site`, where stacks written before keep it, is still read.
//
// As a library (package main), it also exports MultiWanGateway so another
// Pulumi program can build several gateways.
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import YAML from "yaml";
import { MultiWanGateway } from "./components/gateway";
import type { Site } from "./lib/schema";
import { LEGACY_SITE_KEY, SITE_KEY, loadSiteFromConfig, validateLoaded } from "./lib/siteSource";
import { SiteValidationError } from "./lib/validate";

export { MultiWanGateway, GatewayProvider, GatewayResource } from "./components/gateway";
export type { MultiWanGatewayArgs, UplinkSummary } from "./components/gateway";
export { parseSiteOrThrow, validateSite, SiteValidationError } from "./lib/validate";
export type { Site, SiteInput } from "./lib/schema";

export default async function multiwan() {
  const stack = pulumi.getStack();
  const config = new pulumi.Config("multiwan");
  const keys = { [SITE_KEY]: new pulumi.Config("gateway").getObject("site"), [LEGACY_SITE_KEY]: config.getObject("site") };
  const loaded = loadSiteFromConfig(keys, stackConfigDir());
  // A RunError is shown as its message alone: the report, not a stack trace.
  if (loaded.key === undefined) throw new pulumi.RunError(`stack "${stack}" ${loaded.problems[0]}`);
  const result = validateLoaded(loaded);
  if (!result.ok) throw new pulumi.RunError(new SiteValidationError(result.problems, `${loaded.key} of stack "${stack}"`).message);
  const site: Site = result.site;
  if (loaded.key === LEGACY_SITE_KEY)
    pulumi.log.warn(
      `the site is under ${LEGACY_SITE_KEY}, which the engine also passes to the provider's environment: rename the key to ${SITE_KEY}`,
    );
  const gateway = new MultiWanGateway(stack, { site, privateKey: config.getSecret("sshPrivateKey") });
  return {
    gateway: `${site.host.user}@${site.host.address}:${site.host.port}`,
    // One line per uplink: the stack outputs close every preview a reviewer reads.
    uplinks: gateway.uplinks.map(
      (u) => `${u.name}: ${u.interface}, table ${u.table}, rule ${u.rulePriority}, ${u.share} of new connections`,
    ),
    pinnedRoutes: gateway.pinnedRoutes,
  };
}

/** Where the stack files are, and the route files they name: Pulumi.yaml's stackConfigDir, from the project directory. */
function stackConfigDir(): string {
  const project = process.cwd(); // the language host runs the program there
  const file = ["Pulumi.yaml", "Pulumi.yml", "Pulumi.json"].map((f) => path.join(project, f)).find((f) => fs.existsSync(f));
  const dir = file ? (YAML.parse(fs.readFileSync(file, "utf8")) as { stackConfigDir?: string } | null)?.stackConfigDir : undefined;
  return path.resolve(project, dir ?? ".");
}
