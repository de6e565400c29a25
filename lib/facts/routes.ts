// `ip -j -N route show table T proto P` -> one line per route, in the shape
// `ip route` takes it: "default via 192.168.1.254 dev eth1",
// "192.168.1.0/24 dev eth1 scope link src 192.168.1.1",
// "default nexthop via A dev X weight 2 nexthop via B dev Y weight 1".
// iproute2 6.1 prints numeric scopes with -N ("253"), newer ones names; both
// mean the same route, so the scope is put in one spelling here.
import { type Facts, factJson } from "./sections";

export interface JsonNexthop {
  gateway?: string;
  dev?: string;
  weight?: number;
}
export interface JsonRoute extends JsonNexthop {
  dst: string;
  scope?: string | number;
  prefsrc?: string;
  nexthops?: JsonNexthop[];
}

const SCOPES: Record<string, string> = { "0": "global", "200": "site", "253": "link", "254": "host", "255": "nowhere" };
const scopeName = (s: string | number) => SCOPES[String(s)] ?? String(s);

function nexthopText(n: JsonNexthop): string {
  return [n.gateway && `via ${n.gateway}`, n.dev && `dev ${n.dev}`].filter(Boolean).join(" ");
}

export function routeText(r: JsonRoute): string {
  if (r.nexthops?.length) {
    return [r.dst, ...r.nexthops.map((n) => `nexthop ${nexthopText(n)} weight ${n.weight ?? 1}`)].join(" ");
  }
  const scope = r.scope !== undefined && scopeName(r.scope) !== "global" ? `scope ${scopeName(r.scope)}` : "";
  return [r.dst, nexthopText(r), scope, r.prefsrc && `src ${r.prefsrc}`].filter(Boolean).join(" ");
}

/** The routes of one fact, each as `routeText` spells it; an unreadable fact is one line of its own. */
export function routesOf(facts: Facts, name: string): { routes: JsonRoute[]; lines: string[] } {
  const parsed = factJson<JsonRoute[]>(facts, name, []);
  if ("unreadable" in parsed) return { routes: [], lines: [parsed.unreadable] };
  const routes = Array.isArray(parsed.value) ? parsed.value : [];
  return { routes, lines: routes.map(routeText) };
}
