// Plan -> the list of resources a gateway consists of, with the name suffix
// of each and what it depends on. The component registers exactly this list
// and `npm run render` prints it, so both always agree on order and names.
import type { Plan } from "./plan";
import type { EntryByKind, ResourceKind } from "./render";

export type PlannedResource = {
  [K in ResourceKind]: {
    kind: K;
    /** Appended to the gateway's name: "<gateway>-<key>". Unique within one gateway. */
    key: string;
    entry: EntryByKind[K];
    /** Keys of resources that must exist first (and be removed after this one). */
    dependsOn: string[];
  };
}[ResourceKind];

export function planResources(plan: Plan): PlannedResource[] {
  const host = "host";
  const tableKey = (uplink: string) => `table-${uplink}`;
  return [
    { kind: "GatewayHost", key: host, entry: plan.host, dependsOn: [] },
    ...plan.tables.map((entry): PlannedResource => ({ kind: "RoutingTable", key: tableKey(entry.uplink), entry, dependsOn: [host] })),
    ...plan.rules.map((entry): PlannedResource => ({ kind: "PolicyRule", key: `rule-${entry.uplink}`, entry, dependsOn: [tableKey(entry.uplink)] })),
    { kind: "MultipathDefaultRoute", key: "multipath", entry: plan.multipath, dependsOn: [host, ...plan.tables.map((t) => tableKey(t.uplink))] },
    ...plan.pinned.map((entry): PlannedResource => ({ kind: "PinnedRoutes", key: `pinned-${entry.uplink}`, entry, dependsOn: [host] })),
    ...plan.masquerade.map((entry): PlannedResource => ({ kind: "Masquerade", key: `masquerade-${entry.uplink}`, entry, dependsOn: [host] })),
    { kind: "Forward", key: "forward", entry: plan.forward, dependsOn: [host] },
  ];
}
