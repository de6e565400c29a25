// Site -> plan: plain objects that say which tables, routes, rules, NAT and
// forward entries the gateway needs. Each entry becomes the inputs of one
// provider resource; nothing here knows about Pulumi, SSH or shell.
import { formatRoute } from "./kinds/routingTable";
import { ipRouteDestination, parsePrefix, formatIPv4, networkOf } from "./ipv4";
import type {
  ConnectionMarkEntry,
  ForwardEntry,
  GatewayHostEntry,
  HealthMonitorEntry,
  LeaseWatcherEntry,
  MasqueradeEntry,
  MultipathEntry,
  PinnedRoutesEntry,
  PolicyRuleEntry,
  PortForwardsEntry,
  RoutingTableEntry,
} from "./kinds";
import type { Preflight } from "./render/preflight";
import { type Kind, kindOf } from "./kinds";
import { type Claim, type Owned, uniqueClaims } from "./ownership";
import { LEASE } from "./render/lease";
import { type Site, isDhcp, markPriority, parseForwardTarget, uplinkMark, uplinkPriority, uplinkTable } from "./schema";

export type {
  ConnectionMarkEntry,
  ForwardEntry,
  GatewayHostEntry,
  HealthMonitorEntry,
  MasqueradeEntry,
  MultipathEntry,
  Nexthop,
  NatBackend,
  PinnedRoutesEntry,
  PolicyRuleEntry,
  PortForward,
  PortForwardsEntry,
  Route,
  RoutingTableEntry,
} from "./kinds";
export type { Preflight } from "./render/preflight";

export interface Plan {
  preflight: Preflight;
  /** Seconds after which an unconfirmed run rolls back; 0: no guard. */
  rollback: { afterSeconds: number };
  host: GatewayHostEntry;
  tables: RoutingTableEntry[];
  rules: PolicyRuleEntry[];
  marks: ConnectionMarkEntry[];
  multipath: MultipathEntry;
  pinned: PinnedRoutesEntry[];
  masquerade: MasqueradeEntry[];
  forward: ForwardEntry;
  portForwards: PortForwardsEntry[];
  /** Only when the site has a healthCheck. */
  health?: HealthMonitorEntry;
  /** Only when the site has DHCP uplinks. */
  dhcp?: LeaseWatcherEntry;
}

export const MULTIPATH_TABLE_NAME = "multiwan";

export function planSite(site: Site): Plan {
  const { protocol } = site.routing;
  const uplinks = site.uplinks.map((u, i) => ({
    ...u,
    tableId: uplinkTable(site, u, i),
    priority: uplinkPriority(site, u, i),
    mark: uplinkMark(site, u, i),
    markPriority: markPriority(site, i),
    /** Undefined for a DHCP uplink: its subnet is the lease's, read on the box (design §11). */
    prefix: isDhcp(u) ? undefined : parsePrefix(u.address)!,
    dhcp: isDhcp(u),
    /** The configured gateway, or "dhcp": the lease's. */
    via: u.gateway ?? LEASE,
  }));
  type Planned = (typeof uplinks)[number];
  /** The uplink's subnet route in a table: the lease's subnet for a DHCP uplink. */
  const subnetRoute = (u: Planned) =>
    u.prefix ? { destination: networkOf(u.prefix), dev: u.interface } : { destination: LEASE, dev: u.interface };
  const lanPrefix = parsePrefix(site.lan.address)!;
  const backend = site.nat.backend;

  const tables = uplinks.map(
    (u): RoutingTableEntry => ({
      uplink: u.name,
      table: u.tableId,
      interface: u.interface,
      address: u.address,
      gateway: u.via,
      protocol,
      // The LARTC recipe: the uplink's table must still reach every local
      // subnet, or replies to the LAN and the other uplinks would leave by
      // this uplink's default route.
      routes: [
        { ...subnetRoute(u), src: u.prefix ? formatIPv4(u.prefix.address) : LEASE },
        { destination: "default", via: u.via, dev: u.interface },
        { destination: networkOf(lanPrefix), dev: site.lan.interface },
        ...uplinks.filter((o) => o !== u).map(subnetRoute),
        { destination: "127.0.0.0/8", dev: "lo" },
      ].map(formatRoute),
    }),
  );

  const byName = new Map(uplinks.map((u) => [u.name, u]));
  const pinsOf = (u: (typeof uplinks)[number]) => site.pinnedRoutes.filter((p) => byName.get(p.uplink) === u);
  const routeDest = (p: { destination: string }) => ipRouteDestination(parsePrefix(p.destination)!);
  // Fallback means something only where a monitor can find the uplink down.
  const fallbackOf = (u: (typeof uplinks)[number]) =>
    site.healthCheck
      ? pinsOf(u)
          .filter((p) => p.fallback)
          .map(routeDest)
      : [];
  const pinned = uplinks
    .map(
      (u): PinnedRoutesEntry => ({
        uplink: u.name,
        table: site.routing.table,
        protocol,
        via: u.via,
        dev: u.interface,
        ...(u.dhcp ? { dhcp: true } : {}),
        destinations: pinsOf(u).map(routeDest),
        fallback: fallbackOf(u),
      }),
    )
    .filter((p) => p.destinations.length > 0);
  const hc = site.healthCheck;
  const health: HealthMonitorEntry | undefined = hc && {
    table: site.routing.table,
    protocol,
    intervalMs: hc.intervalMs,
    timeoutMs: hc.timeoutMs,
    downAfter: hc.downAfter,
    upAfter: hc.upAfter,
    uplinks: uplinks.map((u) => ({
      name: u.name,
      interface: u.interface,
      // The schema has no healthCheck with a DHCP uplink.
      address: formatIPv4(u.prefix!.address),
      gateway: u.via,
      mark: u.mark,
      mask: site.routing.markMask,
      targets: u.healthCheck?.targets ?? hc.targets,
      fallback: fallbackOf(u),
    })),
  };

  /** `sysctl`'s own name for a per-interface setting: a dot in the interface name becomes "/". */
  const perInterface = (iface: string, key: string) => `net.ipv4.conf.${iface.replace(/\./g, "/")}.${key}`;

  const interfaces = [
    { name: site.lan.interface, address: site.lan.address },
    ...uplinks.map((u) => ({ name: u.interface, address: u.address })),
  ];
  const marks = uplinks.map(
    (u): ConnectionMarkEntry => ({
      uplink: u.name,
      interface: u.interface,
      mark: u.mark,
      mask: site.routing.markMask,
      table: u.tableId,
      priority: u.markPriority,
      protocol,
      backend,
    }),
  );
  const masquerade = uplinks.map((u): MasqueradeEntry => ({ uplink: u.name, interface: u.interface, backend }));
  const forward: ForwardEntry = {
    lanInterface: site.lan.interface,
    uplinkInterfaces: uplinks.map((u) => u.interface),
    backend,
  };
  const portForwards = uplinks
    .filter((u) => u.prefix)
    .map(
      (u): PortForwardsEntry => ({
        uplink: u.name,
        interface: u.interface,
        address: formatIPv4(u.prefix!.address),
        lanInterface: site.lan.interface,
        backend,
        forwards: site.portForwards
          .filter((f) => f.uplink === u.name)
          .map((f) => {
            const to = parseForwardTarget(f.to)!;
            return { protocol: f.protocol, port: f.port, toAddress: to.address, toPort: to.port ?? f.port };
          }),
      }),
    )
    .filter((p) => p.forwards.length > 0);
  const rules = uplinks.map(
    (u): PolicyRuleEntry => ({
      uplink: u.name,
      priority: u.priority,
      from: u.prefix ? formatIPv4(u.prefix.address) : LEASE,
      table: u.tableId,
      protocol,
      ...(u.dhcp ? { interface: u.interface } : {}),
    }),
  );
  const multipath: MultipathEntry = {
    table: site.routing.table,
    protocol,
    mainPriority: site.routing.mainPriority,
    multipathPriority: site.routing.multipathPriority,
    nexthops: uplinks.map((u) => ({ uplink: u.name, via: u.via, dev: u.interface, weight: u.weight, ...(u.dhcp ? { dhcp: true } : {}) })),
  };

  // Everything the site would own, whose it is and the field that moves multiwan off it (issue 15).
  const nat = backend === "nftables" ? "table" : "chain";
  const index = (name: string) => uplinks.findIndex((u) => u.name === name);
  const defaulted = (explicit: unknown, field: string, base: string) => (explicit === undefined ? `${field} or ${base}` : field);
  const tagged = (claims: Claim[], owner: string, field: string): Owned[] => claims.map((c) => ({ ...c, owner, field }));
  const natOwner = (what: string, uplink: string) => {
    const i = index(uplink);
    return { owner: `${uplink}'s ${what}`, field: `uplinks[${i}].name or nat.backend` };
  };
  const natClaims = <E>(kind: Kind<E>, entries: E[], what: string, uplinkOf: (e: E) => string): Owned[] =>
    entries.flatMap((e) => {
      const { owner, field } = natOwner(what, uplinkOf(e));
      return tagged(
        kind.owns(e).filter((c) => c.object === "nft" || c.object === "chain"),
        owner,
        field,
      );
    });
  const owned: Owned[] = uniqueClaims(
    [
      ...tables.map((t) =>
        tagged(
          kindOf("RoutingTable").owns(t),
          `${t.uplink}'s routing table`,
          defaulted(site.uplinks[index(t.uplink)].table, `uplinks[${index(t.uplink)}].table`, "routing.tableBase"),
        ),
      ),
      tagged(
        kindOf("MultipathDefaultRoute")
          .owns(multipath)
          .filter((c) => c.object === "routes"),
        "the multipath table (the weighted default and the pinned routes)",
        "routing.table",
      ),
      ...rules.map((r) =>
        tagged(
          kindOf("PolicyRule").owns(r),
          `${r.uplink}'s rule for replies from its address`,
          defaulted(site.uplinks[index(r.uplink)].priority, `uplinks[${index(r.uplink)}].priority`, "routing.priorityBase"),
        ),
      ),
      ...marks.map((m) =>
        tagged(
          kindOf("ConnectionMark")
            .owns(m)
            .filter((c) => c.object === "rule"),
          `${m.uplink}'s connection-mark rule`,
          site.routing.markPriorityBase === undefined ? "routing.markPriorityBase or routing.mainPriority" : "routing.markPriorityBase",
        ),
      ),
      [
        {
          object: "rule",
          priority: multipath.mainPriority,
          protocol,
          owner: "the rule that lets main answer first",
          field: "routing.mainPriority",
        },
      ],
      [
        {
          object: "rule",
          priority: multipath.multipathPriority,
          protocol,
          owner: "the rule to the multipath table",
          field: "routing.multipathPriority",
        },
      ],
      natClaims(kindOf("ConnectionMark"), marks, `connection-mark ${nat}`, (m) => m.uplink),
      natClaims(kindOf("Masquerade"), masquerade, `masquerade ${nat}`, (m) => m.uplink),
      natClaims(kindOf("PortForwards"), portForwards, `port-forward ${nat}`, (p) => p.uplink),
      tagged(kindOf("Forward").owns(forward), `the forwarding ${nat} (nat.backend ${backend})`, "nat.backend"),
    ].flat() as Owned[],
  );

  return {
    preflight: { interfaces, natBackend: backend, healthCheck: health !== undefined, owned },
    rollback: { afterSeconds: site.rollback.afterSeconds },
    host: {
      protocol,
      interfaces,
      tableNames: [...uplinks.map((u) => `${u.tableId} ${u.name}`), `${site.routing.table} ${MULTIPATH_TABLE_NAME}`],
      sysctls: Object.fromEntries([
        ["net.ipv4.ip_forward", "1"],
        ["net.ipv4.fib_multipath_hash_policy", String(site.routing.hashPolicy)],
        // Skip nexthops whose neighbour (the ISP router) does not answer ARP.
        ["net.ipv4.fib_multipath_use_neigh", "1"],
        ...uplinks.flatMap((u) => [
          // Strict reverse-path filtering drops replies that arrive on the
          // "other" uplink; loose mode (2) keeps spoofing protection.
          [perInterface(u.interface, "rp_filter"), "2"],
          // Do not pick a nexthop whose link is down.
          [perInterface(u.interface, "ignore_routes_with_linkdown"), "1"],
        ]),
      ]),
    },
    tables,
    rules,
    multipath,
    pinned,
    marks,
    masquerade,
    forward,
    portForwards,
    ...(health ? { health } : {}),
    ...(uplinks.some((u) => u.dhcp)
      ? {
          dhcp: {
            protocol,
            uplinks: uplinks
              .filter((u) => u.dhcp)
              .map((u) => ({ name: u.name, interface: u.interface, ...(u.gateway ? { gateway: u.gateway } : {}) })),
            subnets: [
              { label: "the LAN", prefix: site.lan.address },
              ...uplinks.filter((u) => !u.dhcp).map((u) => ({ label: `uplink ${u.name}`, prefix: u.address })),
            ],
          },
        }
      : {}),
  };
}

/** Each uplink's share of new connections, e.g. { isp1: 2/3, isp2: 1/3 }. */
export function trafficShares(entry: MultipathEntry): Record<string, number> {
  const total = entry.nexthops.reduce((sum, n) => sum + n.weight, 0);
  return Object.fromEntries(entry.nexthops.map((n) => [n.uplink, n.weight / total]));
}
