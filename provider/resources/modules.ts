// One small module per resource type: what identifies it on the host (a
// change there replaces it, old state removed first) and its id. Everything
// else — validation, rendering, diffing — is shared and pure.
import type { EntryByKind, ResourceKind } from "../../lib/render";

export interface ResourceModule<K extends ResourceKind> {
  kind: K;
  /** Entry fields bound to the resource's identity on the host. */
  replaceOn: readonly (keyof EntryByKind[K] & string)[];
  /** The resource id: what it owns on the host, stable across updates. */
  id(entry: EntryByKind[K]): string;
}

type Modules = { [K in ResourceKind]: ResourceModule<K> };

export const modules: Modules = {
  GatewayHost: { kind: "GatewayHost", replaceOn: [], id: () => "gateway" },
  RoutingTable: { kind: "RoutingTable", replaceOn: ["table", "interface"], id: (e) => `table-${e.table}` },
  PolicyRule: { kind: "PolicyRule", replaceOn: ["priority", "table"], id: (e) => `rule-${e.priority}` },
  MultipathDefaultRoute: { kind: "MultipathDefaultRoute", replaceOn: ["table", "mainPriority", "multipathPriority"], id: (e) => `multipath-${e.table}` },
  PinnedRoutes: { kind: "PinnedRoutes", replaceOn: ["table", "dev"], id: (e) => `pinned-${e.table}-${e.dev}` },
  Masquerade: { kind: "Masquerade", replaceOn: ["backend", "uplink"], id: (e) => `masquerade-${e.uplink}` },
  Forward: { kind: "Forward", replaceOn: ["backend"], id: () => "forward" },
};

export function isResourceKind(kind: string): kind is ResourceKind {
  return Object.prototype.hasOwnProperty.call(modules, kind);
}
