// Test helpers shared by the provider and component tests: the sites of the
// stack files (stacks/Pulumi.<site>.yaml) and the resource inputs built from
// them exactly as MultiWanGateway builds them.
import * as path from "node:path";
import { readStackFile } from "../../cli/stackFile";
import { REPO_ROOT } from "../../support/repoRoot";
import { type Plan, planSite } from "../../lib/plan";
import type { EntryByKind, ResourceKind } from "../../lib/render";
import { type PlannedResource, planResources } from "../../lib/resources";
import type { Site } from "../../lib/schema";
import { parseSiteOrThrow } from "../../lib/validate";
import { SECRET_SIG, SECRET_SIG_KEY } from "../../provider/secrets";
import type { Connection } from "../../provider/ssh";

export type SiteName = "home" | "office";

export function stackFilePath(name: SiteName): string {
  return path.join(REPO_ROOT, "stacks", `Pulumi.${name}.yaml`);
}

/** The raw `gateway:site` of a stack file, as the program's config holds it (a fresh copy). */
export function rawSite(name: SiteName): Record<string, any> {
  return structuredClone(readStackFile(stackFilePath(name)).site) as Record<string, any>;
}

/** The validated site of a stack file. */
export function loadSite(name: SiteName): Site {
  return parseSiteOrThrow(rawSite(name), `multiwan:site of ${name}`);
}

export function loadPlan(name: SiteName): Plan {
  return planSite(loadSite(name));
}

/** The resources of a site, in the order the component registers them. */
export function plannedResources(site: Site | SiteName): PlannedResource[] {
  return planResources(planSite(typeof site === "string" ? loadSite(site) : site));
}

/** A secret input as the engine hands it to a provider. */
export function wrapSecret<T>(value: T): { [SECRET_SIG_KEY]: string; value: T } {
  return { [SECRET_SIG_KEY]: SECRET_SIG, value } as { [SECRET_SIG_KEY]: string; value: T };
}

/** The `connection` input the engine passes to the provider: the private key wrapped as a secret. */
export function connectionInput(conn: Connection): Record<string, unknown> {
  const out: Record<string, unknown> = {
    address: conn.address,
    port: conn.port,
    user: conn.user,
    insecureIgnoreHostKey: conn.insecureIgnoreHostKey ?? false,
  };
  if (conn.hostKey !== undefined) out.hostKey = conn.hostKey;
  if (conn.privateKey !== undefined) out.privateKey = wrapSecret(conn.privateKey);
  return out;
}

/** Resource inputs as the component builds them: `{ connection, preflight, ...entry }`. */
export function resourceInputs<K extends ResourceKind>(
  plan: Plan,
  entry: EntryByKind[K],
  connection: Record<string, unknown>,
): Record<string, any> {
  return structuredClone({ connection, preflight: plan.preflight, ...(entry as object) }) as Record<string, any>;
}

/** One planned resource of a site by its key ("host", "table-isp1", "multipath", ...). */
export function planned(site: Site | SiteName, key: string): PlannedResource {
  const found = plannedResources(site).find((r) => r.key === key);
  if (!found) throw new Error(`no resource "${key}" in the plan`);
  return found;
}

/** "urn:pulumi:home::multiwan::multiwan:index:MultiWanGateway$multiwan:index:RoutingTable::home-table-isp1" */
export function urnOf(stack: string, kind: ResourceKind, name: string): string {
  return `urn:pulumi:${stack}::multiwan::multiwan:index:MultiWanGateway$multiwan:index:${kind}::${name}`;
}

/** Everything the provider needs to address one planned resource of a site. */
export interface ResourceCase {
  key: string;
  kind: ResourceKind;
  name: string;
  urn: string;
  inputs: Record<string, any>;
}

/** Every resource of a site (gateway named after the stack) with its URN and inputs for `connection`. */
export function resourceCases(name: SiteName, connection: Record<string, unknown>): ResourceCase[] {
  const plan = loadPlan(name);
  return planResources(plan).map((r) => ({
    key: r.key,
    kind: r.kind,
    name: `${name}-${r.key}`,
    urn: urnOf(name, r.kind, `${name}-${r.key}`),
    inputs: resourceInputs(plan, r.entry, connection),
  }));
}
