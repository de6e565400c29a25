// The sites the bench applies: the lab's home site (its stack file), weight
// variants, and scale sites with many uplinks and pinned routes. Sites are
// kept as the raw `gateway:site` objects a stack file holds; `parse` gives
// the validated Site the planner takes.
import fs from "node:fs";
import { parse as parseYaml, stringify as yamlStringify } from "yaml";
import type { Site } from "../lib/schema";
import { validateSite } from "../lib/validate";
import type { UplinkSpec } from "./labx";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type RawSite = Record<string, any>;

export function readSite(stackFile: string): RawSite {
  const doc = parseYaml(fs.readFileSync(stackFile, "utf8"));
  return doc.config["gateway:site"] as RawSite;
}

/** Replaces `gateway:site` in a stack config file, keeping everything else (secrets, salt). */
export function writeSite(configFile: string, site: RawSite): void {
  const doc = parseYaml(fs.readFileSync(configFile, "utf8"));
  doc.config["gateway:site"] = site;
  fs.writeFileSync(configFile, yamlStringify(doc, { lineWidth: 0 }));
}

export function parse(site: RawSite): Site {
  const r = validateSite(site);
  if (!r.ok) throw new Error(`bench site is invalid:\n${r.problems.join("\n")}`);
  return r.site;
}

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

/** The site with uplink `name`'s weight set. */
export function withWeight(site: RawSite, name: string, weight: number): RawSite {
  const s = clone(site);
  const u = (s.uplinks as RawSite[]).find((x) => x.name === name);
  if (!u) throw new Error(`no uplink ${name}`);
  u.weight = weight;
  return s;
}

/** The site with these uplinks and weights (pinned routes to uplinks that remain are kept). */
export function withUplinks(site: RawSite, uplinks: UplinkSpec[], weights?: number[]): RawSite {
  const s = clone(site);
  s.uplinks = uplinks.map((u, i) => ({ ...u, weight: weights?.[i] ?? u.weight }));
  const names = new Set(uplinks.map((u) => u.name));
  s.pinnedRoutes = ((s.pinnedRoutes ?? []) as RawSite[]).filter((p) => names.has(p.uplink));
  return s;
}

const LAB_TRANSIT = new Set(["198.18.1", "198.18.2"]);

/**
 * Pinned destinations in the documentation/benchmark ranges, never in
 * 192.0.2.0/24 (the host's here): host routes in 198.51.100.0/24, /28s of
 * 203.0.113.0/24, /25s of 198.18.0.0/15 (skipping the lab's transit nets
 * 198.18.1.0/24 and 198.18.2.0/24). The three pools are used in turn.
 */
export function pinnedDestinations(n: number): string[] {
  const hosts = Array.from({ length: 254 }, (_, i) => `198.51.100.${i + 1}/32`);
  const docNets = Array.from({ length: 16 }, (_, i) => `203.0.113.${i * 16}/28`);
  const bench: string[] = [];
  for (let third = 0; third < 512; third++) {
    const prefix = `198.${18 + (third >> 8)}.${third & 255}`;
    if (LAB_TRANSIT.has(prefix)) continue;
    bench.push(`${prefix}.0/25`, `${prefix}.128/25`);
  }
  const pools = [hosts, docNets, bench];
  const out: string[] = [];
  const idx = [0, 0, 0];
  while (out.length < n) {
    let took = false;
    for (let p = 0; p < pools.length && out.length < n; p++) {
      if (idx[p] < pools[p].length) {
        out.push(pools[p][idx[p]++]);
        took = true;
      }
    }
    if (!took) throw new Error(`at most ${hosts.length + docNets.length + bench.length} pinned destinations are available`);
  }
  return out;
}

/** A site with these uplinks (weight 1 each) and `routes` pinned routes spread round-robin over them. */
export function scaleSite(base: RawSite, uplinks: UplinkSpec[], routes: number): RawSite {
  const s = clone(base);
  s.uplinks = uplinks.map((u) => ({ ...u, weight: 1 }));
  s.pinnedRoutes = pinnedDestinations(routes).map((destination, i) => ({ destination, uplink: uplinks[i % uplinks.length].name }));
  return s;
}

/**
 * The one-route change: the last pinned destination is replaced by the next
 * unused one, on the same uplink (one PinnedRoutes resource changes).
 * Returns the changed site and the uplink whose list changed.
 */
export function changeOneRoute(site: RawSite): { site: RawSite; uplink: string } {
  const s = clone(site);
  const pins = s.pinnedRoutes as { destination: string; uplink: string }[];
  const fresh = pinnedDestinations(pins.length + 1)[pins.length];
  const last = pins[pins.length - 1];
  last.destination = fresh;
  return { site: s, uplink: last.uplink };
}
