// The multiwan program: the stack's `multiwan:site` -> validated site ->
// MultiWanGateway. This is the only place that reads Pulumi config.
//
// As a library (package main), it also exports MultiWanGateway so another
// Pulumi program can build several gateways.
import * as pulumi from "@pulumi/pulumi";
import { MultiWanGateway } from "./components/gateway";
import type { Site } from "./lib/schema";
import { SiteValidationError, parseSiteOrThrow } from "./lib/validate";

export { MultiWanGateway, GatewayProvider, GatewayResource } from "./components/gateway";
export type { MultiWanGatewayArgs, UplinkSummary } from "./components/gateway";
export { parseSiteOrThrow, validateSite, SiteValidationError } from "./lib/validate";
export type { Site, SiteInput } from "./lib/schema";

export default async function multiwan() {
  const stack = pulumi.getStack();
  const config = new pulumi.Config("multiwan");
  let site: Site;
  try {
    site = parseSiteOrThrow(config.requireObject("site"), `multiwan:site of stack "${stack}"`);
  } catch (err) {
    // A RunError is shown as its message alone: the report, not a stack trace.
    if (err instanceof SiteValidationError) throw new pulumi.RunError(err.message);
    throw err;
  }
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
