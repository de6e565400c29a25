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
import { bootCopyPath, forgetForBoot, keepForBoot } from "./boot";
import { PRELUDE, type Scripts } from "./shell";

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
  /** The resource's name within one gateway ("<gateway>-<key>"), also its boot copy's name. */
  key(entry: E): string;
  /** Boot copies run in this order: that of the resources' dependencies. */
  bootOrder: number;
}

export const renderers: { [K in ResourceKind]: Renderer<EntryByKind[K]> } = {
  GatewayHost: { scripts: renderGatewayHost, expected: expectedGatewayHost, key: () => "host", bootOrder: 10 },
  RoutingTable: { scripts: renderRoutingTable, expected: expectedRoutingTable, key: (e) => `table-${e.uplink}`, bootOrder: 20 },
  PolicyRule: { scripts: renderPolicyRule, expected: expectedPolicyRule, key: (e) => `rule-${e.uplink}`, bootOrder: 30 },
  MultipathDefaultRoute: { scripts: renderMultipath, expected: expectedMultipath, key: () => "multipath", bootOrder: 40 },
  PinnedRoutes: { scripts: renderPinnedRoutes, expected: expectedPinnedRoutes, key: (e) => `pinned-${e.uplink}`, bootOrder: 50 },
  Masquerade: { scripts: renderMasquerade, expected: expectedMasquerade, key: (e) => `masquerade-${e.uplink}`, bootOrder: 60 },
  Forward: { scripts: renderForward, expected: expectedForward, key: () => "forward", bootOrder: 70 },
};

const rendererOf = <K extends ResourceKind>(kind: K) => renderers[kind] as Renderer<EntryByKind[K]>;

export function resourceKey<K extends ResourceKind>(kind: K, entry: EntryByKind[K]): string {
  return rendererOf(kind).key(entry);
}

/** Where the resource keeps its apply script for the boot runner. */
export function bootCopyOf<K extends ResourceKind>(kind: K, entry: EntryByKind[K]): string {
  return bootCopyPath(rendererOf(kind).bootOrder, resourceKey(kind, entry));
}

/** What the resource's scripts do on the host itself, without the boot copy. */
export function renderHostScripts<K extends ResourceKind>(kind: K, entry: EntryByKind[K]): Scripts {
  return rendererOf(kind).scripts(entry);
}

/**
 * The scripts the provider runs: apply also keeps itself as the boot copy;
 * remove forgets that copy first, so a reboot halfway through a removal
 * does not bring back what is being removed.
 */
export function renderScripts<K extends ResourceKind>(kind: K, entry: EntryByKind[K]): Scripts {
  const host = renderHostScripts(kind, entry);
  const copy = bootCopyOf(kind, entry);
  return {
    apply: [host.apply.trimEnd(), ...keepForBoot(copy, host.apply), ""].join("\n"),
    remove: host.remove.replace(`${PRELUDE}\n`, [PRELUDE, ...forgetForBoot(copy), ""].join("\n")),
    read: [host.read.trimEnd(), `[ ! -e ${copy} ] || echo 'boot copy ${copy}'`, ""].join("\n"),
  };
}

export function expectedState<K extends ResourceKind>(kind: K, entry: EntryByKind[K]): string[] {
  return [...new Set([...rendererOf(kind).expected(entry), `boot copy ${bootCopyOf(kind, entry)}`])].sort();
}

export { canonicalState, PRELUDE, sh } from "./shell";
export type { Scripts } from "./shell";
