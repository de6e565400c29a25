// zod schemas of the plan entries: what each provider resource accepts as
// inputs. The provider's check validates with these, so a hand-written
// resource (not built by MultiWanGateway) is held to the same rules as a site.
import { z } from "zod";
import type { EntryByKind, ResourceKind } from "./render";
import { interfaceAddress, interfaceName, ipv4, protocolNumber, rulePriority, tableId, uplinkName } from "./schema";

const destination = z.string().regex(/^(default|(\d{1,3}\.){3}\d{1,3}(\/\d{1,2})?)$/, { error: "must be a route destination as ip prints it" });
const sysctlName = z.string().regex(/^net\.ipv4\.[A-Za-z0-9_.=+/-]+$/, { error: "must be a net.ipv4 sysctl" });
const sysctlPath = z.string().regex(/^\/proc\/sys\/net\/ipv4\/[A-Za-z0-9_.=+/-]+$/, { error: "must be a path under /proc/sys/net/ipv4" }).refine((p) => !p.includes(".."), { error: "must not contain .." });
const backend = z.enum(["nftables", "iptables"]);

const route = z.strictObject({ destination, via: ipv4.optional(), dev: interfaceName, src: ipv4.optional() });

export const entrySchemas: { [K in ResourceKind]: z.ZodType<EntryByKind[K]> } = {
  GatewayHost: z.strictObject({
    protocol: protocolNumber,
    tableNames: z.array(z.strictObject({ id: tableId, name: z.union([uplinkName, z.literal("multiwan")]) })),
    sysctls: z.array(z.strictObject({ name: sysctlName, path: sysctlPath, value: z.string().regex(/^[0-9]{1,3}$/) })),
    interfaces: z.array(z.strictObject({ name: interfaceName, address: interfaceAddress })).min(1),
  }),
  RoutingTable: z.strictObject({
    uplink: uplinkName, table: tableId, interface: interfaceName, address: interfaceAddress, gateway: ipv4,
    protocol: protocolNumber, routes: z.array(route).min(1),
  }),
  PolicyRule: z.strictObject({ uplink: uplinkName, priority: rulePriority, from: ipv4, table: tableId, protocol: protocolNumber }),
  MultipathDefaultRoute: z.strictObject({
    table: tableId, protocol: protocolNumber, mainPriority: rulePriority, multipathPriority: rulePriority,
    nexthops: z.array(z.strictObject({ uplink: uplinkName, via: ipv4, dev: interfaceName, weight: z.number().int().min(1).max(256) })).min(1),
  }),
  PinnedRoutes: z.strictObject({
    uplink: uplinkName, table: tableId, protocol: protocolNumber, via: ipv4, dev: interfaceName,
    destinations: z.array(destination).min(1),
  }),
  Masquerade: z.strictObject({ uplink: uplinkName, interface: interfaceName, backend }),
  Forward: z.strictObject({ lanInterface: interfaceName, uplinkInterfaces: z.array(interfaceName).min(1), backend }),
};

export const preflightSchema = z.strictObject({
  interfaces: z.array(z.strictObject({ name: interfaceName, address: interfaceAddress })).min(1),
  natBackend: backend,
});
