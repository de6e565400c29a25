// The registry of resource kinds. Adding a kind: one file in this folder,
// one line here, and the planner's part (lib/plan.ts, lib/resources.ts).
import type { z } from "zod";
import { connectionMark } from "./connectionMark";
import { forward } from "./forward";
import { gatewayHost } from "./gatewayHost";
import { healthMonitor } from "./healthMonitor";
import { leaseWatcher } from "./leaseWatcher";
import type { Kind } from "./kind";
import { masquerade } from "./masquerade";
import { multipath } from "./multipath";
import { pinnedRoutes } from "./pinnedRoutes";
import { portForwards } from "./portForwards";
import { policyRule } from "./policyRule";
import { routingTable } from "./routingTable";

export const kinds = {
  GatewayHost: gatewayHost,
  RoutingTable: routingTable,
  PolicyRule: policyRule,
  ConnectionMark: connectionMark,
  MultipathDefaultRoute: multipath,
  PinnedRoutes: pinnedRoutes,
  Masquerade: masquerade,
  Forward: forward,
  PortForwards: portForwards,
  HealthMonitor: healthMonitor,
  LeaseWatcher: leaseWatcher,
};

export type ResourceKind = keyof typeof kinds;
/** Each kind's entry type, derived from its zod schema. */
export type EntryByKind = { [K in ResourceKind]: (typeof kinds)[K] extends Kind<infer E> ? E : never };
export const KINDS = Object.keys(kinds) as ResourceKind[];

export function kindOf<K extends ResourceKind>(kind: K): Kind<EntryByKind[K]> {
  return kinds[kind] as unknown as Kind<EntryByKind[K]>;
}

export function isResourceKind(kind: string): kind is ResourceKind {
  return Object.hasOwn(kinds, kind);
}

/** The entry schema of a kind, as the provider's check uses it. */
export function entrySchema<K extends ResourceKind>(kind: K): z.ZodType<EntryByKind[K]> {
  return kindOf(kind).schema;
}

export type { Kind } from "./kind";
export type { ConnectionMarkEntry } from "./connectionMark";
export type { ForwardEntry } from "./forward";
export type { GatewayHostEntry } from "./gatewayHost";
export type { HealthMonitorEntry, WatchedUplink } from "./healthMonitor";
export type { LeaseWatcherEntry } from "./leaseWatcher";
export type { MasqueradeEntry } from "./masquerade";
export type { MultipathEntry, Nexthop } from "./multipath";
export type { PinnedRoutesEntry } from "./pinnedRoutes";
export type { PortForward, PortForwardsEntry } from "./portForwards";
export type { PolicyRuleEntry } from "./policyRule";
export type { Route, RoutingTableEntry } from "./routingTable";
export type { NatBackend } from "./fields";
