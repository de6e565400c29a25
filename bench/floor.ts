// The floor: the rendered plan run as ONE script in ONE OpenSSH session, no
// Pulumi. Whatever a tool does beyond this (engine, plugins, state, one SSH
// exec per resource) is overhead over the irreducible work.
import { performance } from "node:perf_hooks";
import { planSite } from "../lib/plan";
import { renderScripts } from "../lib/render";
import { planResources, type PlannedResource } from "../lib/resources";
import type { Site } from "../lib/schema";
import type { Gateway } from "./context";
import { check, run } from "../support/proc";

const scriptsOf = (r: PlannedResource) => renderScripts(r.kind, r.entry as never);

/** Resource kinds to leave out of the plan: the "without connection marks" variant of the bench. */
export type Without = readonly PlannedResource["kind"][];

const resourcesOf = (site: Site, without: Without = []) => planResources(planSite(site)).filter((r) => !without.includes(r.kind));

/** Every apply script of the plan (without the resources of kinds `without`), in creation order, as one script. */
export function applyAll(site: Site, without: Without = []): string {
  return resourcesOf(site, without)
    .map((r) => scriptsOf(r).apply)
    .join("\n");
}

/** Every remove script of the plan (without the resources of kinds `without`), in reverse order, as one script. */
export function removeAll(site: Site, without: Without = []): string {
  return [...resourcesOf(site, without)]
    .reverse()
    .map((r) => scriptsOf(r).remove)
    .join("\n");
}

/** The apply (or remove, in reverse) scripts of every resource of one kind, as one script. */
export function scriptsOfKind(site: Site, kind: PlannedResource["kind"], which: "apply" | "remove"): string {
  const rs = planResources(planSite(site)).filter((r) => r.kind === kind);
  if (!rs.length) throw new Error(`the plan has no ${kind} resource`);
  return (which === "remove" ? rs.reverse() : rs).map((r) => scriptsOf(r)[which]).join("\n");
}

/** The apply script of the one resource with this key ("multipath", "pinned-isp3", ...). */
export function applyOne(site: Site, key: string): string {
  const r = planResources(planSite(site)).find((x) => x.key === key);
  if (!r) throw new Error(`the plan has no resource ${key}`);
  return scriptsOf(r).apply;
}

/** Runs `script` with `sh -s` in one OpenSSH session to the lab gateway; returns wall milliseconds. */
export async function floorRun(gw: Gateway, script: string, what: string): Promise<number> {
  const r = check(await run(gw.sshArgs("sh -s"), { input: script, timeoutMs: 120_000 }), `floor: ${what}`);
  return r.ms;
}

/** What `pulumi preview` computes, in process: validate, plan, render every script. */
export function renderOnlyMs<R>(raw: R, validate: (raw: R) => Site): number {
  const t0 = performance.now();
  const site = validate(raw);
  for (const r of planResources(planSite(site))) scriptsOf(r);
  return performance.now() - t0;
}
