// Plan -> the list of resources a gateway consists of, with the name suffix
// of each and what it depends on. The component registers exactly this list
// and `npm run render` prints it, so both always agree on order and names.
import type { Plan } from "./plan";
import { type EntryByKind, type ResourceKind, resourceKey } from "./render";

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
  const host = resourceKey("GatewayHost", plan.host);
  const tableKey = (uplink: string) => resourceKey("RoutingTable", plan.tables.find((t) => t.uplink === uplink)!);
  const tableKeys = plan.tables.map((t) => resourceKey("RoutingTable", t));
  const markKey = (uplink: string) => resourceKey("ConnectionMark", plan.marks.find((m) => m.uplink === uplink)!);
  const markKeys = plan.marks.map((m) => resourceKey("ConnectionMark", m));
  const planned = <K extends ResourceKind>(kind: K, entry: EntryByKind[K], dependsOn: string[]) =>
    ({ kind, key: resourceKey(kind, entry), entry, dependsOn }) as PlannedResource;
  return [
    planned("GatewayHost", plan.host, []),
    ...plan.tables.map((entry) => planned("RoutingTable", entry, [host])),
    ...plan.rules.map((entry) => planned("PolicyRule", entry, [tableKey(entry.uplink)])),
    // The mark rule looks up the uplink's table; the multipath route waits for
    // every mark, so a new uplink's connections are marked from the first one.
    ...plan.marks.map((entry) => planned("ConnectionMark", entry, [tableKey(entry.uplink)])),
    planned("MultipathDefaultRoute", plan.multipath, [host, ...tableKeys, ...markKeys]),
    ...plan.pinned.map((entry) => planned("PinnedRoutes", entry, [host])),
    ...plan.masquerade.map((entry) => planned("Masquerade", entry, [host])),
    planned("Forward", plan.forward, [host]),
    // Replies to a forwarded connection are routed by its mark.
    ...plan.portForwards.map((entry) => planned("PortForwards", entry, [host, markKey(entry.uplink)])),
    // The monitor adjusts the multipath and pinned routes and drops marked connections: all must exist first.
    ...(plan.health
      ? [
          planned("HealthMonitor", plan.health, [
            host,
            ...markKeys,
            resourceKey("MultipathDefaultRoute", plan.multipath),
            ...plan.pinned.map((p) => resourceKey("PinnedRoutes", p)),
          ]),
        ]
      : []),
    // The watcher re-applies the tables, rules, multipath and pinned routes: all must exist first.
    ...(plan.dhcp
      ? [
          planned("LeaseWatcher", plan.dhcp, [
            host,
            ...tableKeys,
            ...plan.rules.map((r) => resourceKey("PolicyRule", r)),
            resourceKey("MultipathDefaultRoute", plan.multipath),
            ...plan.pinned.map((p) => resourceKey("PinnedRoutes", p)),
          ]),
        ]
      : []),
  ];
}
