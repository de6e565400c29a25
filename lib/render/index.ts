// The renderer registry: resource kind -> scripts and expected state.
import type {
  ForwardEntry, GatewayHostEntry, MasqueradeEntry, MultipathEntry, PinnedRoutesEntry, PolicyRuleEntry, RoutingTableEntry,
} from "../plan";
import { expectedGatewayHost, renderGatewayHost } from "./gatewayHost";
import { expectedMultipath, renderMultipath } from "./multipath";
import { expectedForward, expectedMasquerade, renderForward, renderMasquerade } from "./nat";
import { expectedPinnedRoutes, renderPinnedRoutes } from "./pinnedRoutes";
import { expectedPolicyRule, renderPolicyRule } from "./policyRule";
import { expectedRoutingTable, renderRoutingTable } from "./routingTable";
import type { Scripts } from "./shell";

export interface EntryByKind {
  GatewayHost: GatewayHostEntry;
  RoutingTable: RoutingTableEntry;
  PolicyRule: PolicyRuleEntry;
  MultipathDefaultRoute: MultipathEntry;
  PinnedRoutes: PinnedRoutesEntry;
  Masquerade: MasqueradeEntry;
  Forward: ForwardEntry;
}
export type ResourceKind = keyof EntryByKind;

interface Renderer<E> {
  scripts(entry: E): Scripts;
  /** The state `read` prints when the host matches the entry (canonical lines). */
  expected(entry: E): string[];
}

export const renderers: { [K in ResourceKind]: Renderer<EntryByKind[K]> } = {
  GatewayHost: { scripts: renderGatewayHost, expected: expectedGatewayHost },
  RoutingTable: { scripts: renderRoutingTable, expected: expectedRoutingTable },
  PolicyRule: { scripts: renderPolicyRule, expected: expectedPolicyRule },
  MultipathDefaultRoute: { scripts: renderMultipath, expected: expectedMultipath },
  PinnedRoutes: { scripts: renderPinnedRoutes, expected: expectedPinnedRoutes },
  Masquerade: { scripts: renderMasquerade, expected: expectedMasquerade },
  Forward: { scripts: renderForward, expected: expectedForward },
};

export function renderScripts<K extends ResourceKind>(kind: K, entry: EntryByKind[K]): Scripts {
  return (renderers[kind] as Renderer<EntryByKind[K]>).scripts(entry);
}

export function expectedState<K extends ResourceKind>(kind: K, entry: EntryByKind[K]): string[] {
  return [...new Set((renderers[kind] as Renderer<EntryByKind[K]>).expected(entry))].sort();
}

export { canonicalState, PRELUDE, sh } from "./shell";
export type { Scripts } from "./shell";
