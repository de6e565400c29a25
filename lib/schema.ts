// The site model: one multi-WAN gateway as the user writes it under the
// stack config key `gateway:site`. Field checks live on the fields; checks
// that compare fields run in one superRefine that also runs when some fields
// are already invalid, so a user sees every problem in one go.
import { z } from "zod";
import { parsePublicKeyLine } from "./publicKey";
import {
  type Prefix,
  contains,
  formatIPv4,
  hasNetworkAndBroadcast,
  isNetworkPrefix,
  networkOf,
  overlaps,
  parseIPv4,
  parsePrefix,
} from "./ipv4";

export const MAX_UPLINKS = 16;
const RESERVED_TABLES = new Map([
  [0, "unspec"],
  [253, "default"],
  [254, "main"],
  [255, "local"],
]);
/** Names that already mean something to `ip rule`/`ip route` or to us. */
const RESERVED_NAMES = ["main", "local", "default", "unspec", "all", "multiwan"];

export const ipv4 = z.string().refine((s) => parseIPv4(s) !== undefined, {
  error: "must be an IPv4 address like 192.168.1.254",
});
export const interfaceAddress = z.string().refine((s) => parsePrefix(s) !== undefined, {
  error: "must be an IPv4 address with its prefix length, like 192.168.1.1/24",
});
const destination = z.string().superRefine((s, ctx) => {
  const prefix = parsePrefix(s);
  if (!prefix && parseIPv4(s) !== undefined) {
    ctx.addIssue({ code: "custom", message: `${s} has no prefix length; write ${s}/32 for one host` });
  } else if (!prefix) {
    ctx.addIssue({ code: "custom", message: "must be a destination prefix like 203.0.113.7/32 or 198.51.100.0/24" });
  } else if (!isNetworkPrefix(prefix)) {
    ctx.addIssue({ code: "custom", message: `${s} has host bits set; the prefix is ${networkOf(prefix)}` });
  } else if (prefix.length === 0) {
    ctx.addIssue({ code: "custom", message: "0.0.0.0/0 is the multipath default itself; it cannot be pinned" });
  }
});
export const interfaceName = z
  .string()
  .regex(/^[A-Za-z0-9_.=+-]{1,15}$/, { error: "must be a Linux interface name: 1 to 15 letters, digits or _ . = + -" })
  // The kernel refuses "." and ".."; "all" and "default" are /proc/sys/net/ipv4/conf entries, not interfaces.
  .refine((s) => ![".", "..", "all", "default"].includes(s), { error: (iss) => `"${iss.input}" cannot be an interface name` });
export const uplinkName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,14}$/, {
    error: "must be a short name: a lowercase letter, then up to 14 lowercase letters, digits or -",
  })
  .refine((s) => !RESERVED_NAMES.includes(s), { error: (iss) => `"${iss.input}" is reserved; choose another name` });
export const tableId = z
  .number()
  .int({ error: "must be a whole number" })
  .min(1, { error: "must be between 1 and 4294967295 (0 is reserved)" })
  .max(4294967295, { error: "must be between 1 and 4294967295" })
  .refine((n) => !RESERVED_TABLES.has(n), {
    error: (iss) => `table ${iss.input} is reserved for the kernel's "${RESERVED_TABLES.get(iss.input as number)}" table`,
  });
export const rulePriority = z
  .number()
  .int({ error: "must be a whole number" })
  .min(1, { error: "must be between 1 and 32765 (0 and 32766-32767 belong to the kernel's own rules)" })
  .max(32765, { error: "must be between 1 and 32765 (32766 and 32767 belong to the kernel's own rules)" });

export const host = z.strictObject({
  address: z.string().refine(
    // A dotted all-numeric name is an IPv4 address or nothing (RFC 1123).
    (s) =>
      parseIPv4(s) !== undefined ||
      (!/^[0-9.]+$/.test(s) &&
        /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(s)),
    { error: "must be an IPv4 address or a DNS name of the gateway" },
  ),
  port: z.number().int({ error: "must be a whole number" }).min(1).max(65535, { error: "must be a TCP port, 1 to 65535" }).default(22),
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/, { error: "must be a Unix user name like root or netadmin" })
    .default("root"),
  // The one host-key parser (lib/publicKey.ts), which the SSH pool uses too.
  hostKey: z
    .string()
    .superRefine((s, ctx) => {
      const parsed = parsePublicKeyLine(s);
      if (typeof parsed === "string") ctx.addIssue({ code: "custom", message: parsed });
    })
    .optional(),
  /** Explicit opt-out of host key checking; every run warns about it. */
  insecureIgnoreHostKey: z.boolean().default(false),
  /** Each script on the box gets this long (default 120 s); past it, its processes are stopped and the resource fails. */
  commandTimeoutSeconds: z
    .number()
    .int({ error: "must be a whole number of seconds" })
    .min(5, { error: "must be between 5 and 3600 seconds" })
    .max(3600, { error: "must be between 5 and 3600 seconds" })
    .optional(),
});

/** A packet or connection mark (32 bits); 0 means "no mark", so it cannot be one. */
const markValue = z
  .number()
  .int({ error: "must be a whole number" })
  .min(1, { error: "must not be 0: 0 is the mark of a connection that has none" })
  .max(0xffffffff, { error: "must fit in 32 bits (at most 0xffffffff)" });

export const tcpPort = z
  .number()
  .int({ error: "must be a whole number" })
  .min(1, { error: "must be a port, 1 to 65535" })
  .max(65535, { error: "must be a port, 1 to 65535" });

/** "192.168.3.20:80", or "192.168.3.20" for the same port. */
const forwardTarget = z.string().refine((s) => parseForwardTarget(s) !== undefined, {
  error: "must be a LAN address with an optional port, like 192.168.3.20:80",
});

export function parseForwardTarget(text: string): { address: string; port?: number } | undefined {
  const m = /^([0-9.]+)(?::([1-9][0-9]{0,4}))?$/.exec(text);
  if (!m || parseIPv4(m[1]) === undefined) return undefined;
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && port > 65535) return undefined;
  return { address: m[1], port };
}

const portForward = z.strictObject({
  /** The uplink whose address receives the connections. */
  uplink: z.string(),
  protocol: z.enum(["tcp", "udp"]),
  port: tcpPort,
  to: forwardTarget,
});

/** Addresses the health monitor pings through every uplink (design §9). */
const healthTargets = z
  .array(ipv4)
  .min(1, { error: "needs at least one target address" })
  .max(4, { error: "at most 4 targets: every target is one more ping per uplink" });

const boundedMs = (min: number, max: number, dflt: number) =>
  z
    .number()
    .int({ error: "must be a whole number of milliseconds" })
    .min(min, { error: `must be between ${min} and ${max} ms` })
    .max(max, { error: `must be between ${min} and ${max} ms` })
    .default(dflt);
const rounds = (max: number, dflt: number) =>
  z
    .number()
    .int({ error: "must be a whole number of rounds" })
    .min(1, { error: `must be between 1 and ${max} rounds` })
    .max(max, { error: `must be between 1 and ${max} rounds` })
    .default(dflt);

/** Without it no monitor is installed. */
const healthCheck = z.strictObject({
  targets: healthTargets,
  /** One probe per target and uplink every intervalMs; one round. */
  intervalMs: boundedMs(100, 10000, 500),
  /** A reply later than this counts as lost. */
  timeoutMs: boundedMs(100, 10000, 1000),
  /** Consecutive failed rounds (no target answered) before an uplink is down. */
  downAfter: rounds(20, 3),
  /** Consecutive good rounds before a down uplink is up again (flap damping). */
  upAfter: rounds(50, 5),
});
export const HEALTH_DEFAULTS = { intervalMs: 500, timeoutMs: 1000, downAfter: 3, upAfter: 5 } as const;

/** The word that makes an uplink's address come from its DHCP lease (design §11). */
export const DHCP = "dhcp";
const uplinkAddress = z.string().refine((s) => s === DHCP || parsePrefix(s) !== undefined, {
  error: "must be an IPv4 address with its prefix length, like 192.168.1.1/24, or dhcp for an address from the modem's DHCP server",
});
const uplinkGateway = z.string().refine((s) => parseIPv4(s) !== undefined, {
  error: (iss) =>
    iss.input === DHCP
      ? "must be an IPv4 address; to learn the gateway from the DHCP lease, leave gateway out and set address: dhcp"
      : "must be an IPv4 address like 192.168.1.254",
});

const uplink = z.strictObject({
  name: uplinkName,
  interface: interfaceName,
  /** A static address with its prefix, or "dhcp": the lease's, followed on the box. */
  address: uplinkAddress,
  /** Required with a static address; with address: dhcp, learned from the lease when left out. */
  gateway: uplinkGateway.optional(),
  weight: z
    .number()
    .int({ error: "must be a whole number" })
    .min(1, { error: "must be between 1 and 256" })
    .max(256, { error: "must be between 1 and 256" })
    .default(1),
  table: tableId.optional(),
  priority: rulePriority.optional(),
  /** The connection mark of this uplink's connections; default: (index + 1) × the lowest bit of routing.markMask. */
  mark: markValue.optional(),
  /** This uplink's own targets instead of healthCheck.targets (e.g. its ISP's resolver). */
  healthCheck: z.strictObject({ targets: healthTargets }).optional(),
});

/** Route protocol / rule protocol number that marks everything we add. */
export const protocolNumber = z
  .number()
  .int()
  .min(5, { error: "must be between 5 and 255 (0-4 are the kernel's own)" })
  .max(255, { error: "must be between 5 and 255" });

const routing = z.strictObject({
  protocol: protocolNumber.default(77),
  /** Table that holds the weighted multipath default and the pinned routes. */
  table: tableId.default(200),
  /** Uplink i (from 1) gets table tableBase + i unless it sets `table`. */
  tableBase: z.number().int().min(1).max(4294967000).default(100),
  /** Uplink i (from 1) gets rule priority priorityBase + i unless it sets `priority`. */
  priorityBase: z.number().int().min(0).max(29000).default(1000),
  /** `lookup main suppress_prefixlength 0`: main wins for all but its default. */
  mainPriority: rulePriority.default(30000),
  /**
   * Uplink i (from 1) gets its connection-mark rule (`fwmark <mark> lookup
   * <uplink table>`) at markPriorityBase + i (default: mainPriority + i):
   * after main has answered all but its default, before the multipath
   * default, which so sees only new connections.
   */
  markPriorityBase: z
    .number()
    .int({ error: "must be a whole number" })
    .min(1)
    .max(32764, { error: "must be at most 32764: the mark rules sit above it" })
    .optional(),
  /** `lookup <table>`: the multipath default, reached after main and the mark rules. */
  multipathPriority: rulePriority.default(30100),
  /** The bits of the packet and connection mark that multiwan owns; other tools' bits are left alone. */
  markMask: markValue.default(0xff00),
  /** fib_multipath_hash_policy: 0 hashes addresses only, 1 the 5-tuple. */
  hashPolicy: z.union([z.literal(0), z.literal(1)], { error: "must be 0 (addresses) or 1 (addresses and ports)" }).default(1),
});

const pinnedRoute = z.strictObject({
  destination,
  uplink: z.string(),
  /** While the pinned uplink is down, the destination uses the healthy uplinks (false: it keeps failing). */
  fallback: z.boolean().default(true),
});

/** Commit-confirmed runs: unless a run confirms over a new SSH connection, the box undoes it after afterSeconds. */
const rollback = z.strictObject({
  afterSeconds: z
    .number()
    .int({ error: "must be a whole number of seconds" })
    .refine((n) => n === 0 || (n >= 10 && n <= 600), { error: "must be between 10 and 600 seconds, or 0 to turn the rollback off" })
    .default(60),
});

export const siteSchema = z
  .strictObject({
    host,
    lan: z.strictObject({ interface: interfaceName, address: interfaceAddress }),
    uplinks: z
      .array(uplink)
      .min(1, { error: "needs at least one uplink" })
      .max(MAX_UPLINKS, { error: `at most ${MAX_UPLINKS} uplinks are supported` }),
    pinnedRoutes: z.array(pinnedRoute).default([]),
    /** Connections to an uplink's address and port, forwarded to a LAN host (DNAT). */
    portForwards: z.array(portForward).default([]),
    nat: z.strictObject({ backend: z.enum(["nftables", "iptables"]).default("nftables") }).default({ backend: "nftables" }),
    routing: routing.default(routing.parse({})),
    healthCheck: healthCheck.optional(),
    rollback: rollback.default({ afterSeconds: 60 }),
  })
  .superRefine((site, ctx) => crossCheck(site as unknown as LooseSite, ctx), { when: () => true });

/** The fields of each mapping, by its path without list indexes ("" is the top). */
export const FIELDS_BY_PATH: Record<string, string[]> = {
  "": Object.keys(siteSchema.shape),
  host: Object.keys(host.shape),
  lan: ["interface", "address"],
  uplinks: Object.keys(uplink.shape),
  pinnedRoutes: Object.keys(pinnedRoute.shape),
  healthCheck: Object.keys(healthCheck.shape),
  "uplinks.healthCheck": ["targets"],
  portForwards: Object.keys(portForward.shape),
  nat: ["backend"],
  routing: Object.keys(routing.shape),
  rollback: Object.keys(rollback.shape),
};

export type SiteInput = z.input<typeof siteSchema>;
export type Site = z.output<typeof siteSchema>;
export type Uplink = Site["uplinks"][number];

/** True when the uplink's address comes from DHCP. */
export const isDhcp = (u: { address?: unknown }) => u.address === DHCP;

/**
 * The checks validation cannot make for a DHCP uplink, because the subnet is
 * the lease's: the box makes them at run time (/etc/multiwan/dhcp.sh) and
 * logs a failure in the same words. One line per deferred check.
 */
export function deferredChecks(site: Site): string[] {
  return site.uplinks.flatMap((u, i) => {
    if (!isDhcp(u)) return [];
    const at = `uplinks[${i}]`;
    return [
      `${at}.address: dhcp: whether the leased subnet overlaps the LAN or another uplink's subnet is checked on the gateway at each new lease`,
      u.gateway === undefined
        ? `${at}.gateway: learned from the lease (the DHCP client's default route on ${u.interface}); checked on the gateway at each new lease`
        : `${at}.gateway: whether ${u.gateway} is inside the leased subnet is checked on the gateway at each new lease`,
    ];
  });
}

/** The effective table id and rule priority of the uplink at `index`. */
export function uplinkTable(site: Pick<Site, "routing">, uplink: Pick<Uplink, "table">, index: number): number {
  return uplink.table ?? site.routing.tableBase + index + 1;
}
export function uplinkPriority(site: Pick<Site, "routing">, uplink: Pick<Uplink, "priority">, index: number): number {
  return uplink.priority ?? site.routing.priorityBase + index + 1;
}

/** The lowest set bit of a mask: the step between default marks (0xff00 -> 0x100). */
export function markStep(mask: number): number {
  return (mask & -mask) >>> 0;
}
/** The effective connection mark of the uplink at `index`. */
export function uplinkMark(site: Pick<Site, "routing">, uplink: Pick<Uplink, "mark">, index: number): number {
  return uplink.mark ?? (index + 1) * markStep(site.routing.markMask);
}
/** The priority of the uplink's connection-mark rule. */
export function markPriority(site: Pick<Site, "routing">, index: number): number {
  return (site.routing.markPriorityBase ?? site.routing.mainPriority) + index + 1;
}
export const hex = (n: number) => `0x${n.toString(16)}`;

// ---- cross-field checks -------------------------------------------------

/** A host key is required unless checking is explicitly switched off (site and provider alike). */
export function requireHostKey(
  host: { hostKey?: unknown; insecureIgnoreHostKey?: unknown },
  ctx: z.RefinementCtx,
  at: (string | number)[] = [],
) {
  if (host.hostKey === undefined && host.insecureIgnoreHostKey !== true) {
    ctx.addIssue({
      code: "custom",
      path: [...at, "hostKey"],
      message: `is required: the gateway's public host key, e.g. the "ssh-ed25519 AAAA..." line from \`ssh-keyscan <host>\` (or set ${[...at, "insecureIgnoreHostKey"].join(".")}: true to skip the check)`,
    });
  }
}

/** What superRefine sees when some fields failed: anything may be missing or wrong. */
type Loose<T> = { [K in keyof T]?: unknown };
interface LooseSite {
  host?: Loose<Site["host"]>;
  lan?: Loose<Site["lan"]>;
  uplinks?: unknown;
  pinnedRoutes?: unknown;
  portForwards?: unknown;
  routing?: Loose<Site["routing"]>;
  healthCheck?: unknown;
}
type Ctx = z.RefinementCtx;
type Path = (string | number)[];

const str = (v: unknown) => (typeof v === "string" ? v : undefined);
const int = (v: unknown) => (typeof v === "number" && Number.isInteger(v) ? v : undefined);
const prefixOf = (v: unknown) => {
  const s = str(v);
  return s === undefined ? undefined : parsePrefix(s);
};
const addrOf = (v: unknown) => {
  const s = str(v);
  return s === undefined ? undefined : parseIPv4(s);
};
const list = (v: unknown) => (Array.isArray(v) ? (v as Record<string, unknown>[]).filter((x) => x && typeof x === "object") : []);

function issue(ctx: Ctx, path: Path, message: string) {
  ctx.addIssue({ code: "custom", path, message });
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function crossCheck(site: LooseSite, ctx: Ctx) {
  if (!isMapping(site as unknown)) return;
  if (isMapping(site.host)) requireHostKey(site.host, ctx, ["host"]);
  const uplinks = Array.isArray(site.uplinks) ? (site.uplinks as Loose<Uplink>[]) : [];
  const subnets: { path: Path; label: string; prefix: Prefix }[] = [];

  const lanPrefix = prefixOf(site.lan?.address);
  if (lanPrefix) {
    checkInterfaceAddress(ctx, ["lan", "address"], lanPrefix);
    subnets.push({ path: ["lan", "address"], label: "the LAN", prefix: lanPrefix });
  }
  uplinks.forEach((u, i) => {
    if (!u || typeof u !== "object") return;
    const prefix = prefixOf(u.address);
    const label = `uplink ${str(u.name) ?? i + 1}`;
    if (!isDhcp(u) && u.address !== undefined && u.gateway === undefined)
      issue(
        ctx,
        ["uplinks", i, "gateway"],
        "is required with a static address (only an uplink with address: dhcp learns it from the lease)",
      );
    if (isDhcp(u)) checkDhcpUplink(ctx, site, u, i);
    if (!prefix) return;
    checkInterfaceAddress(ctx, ["uplinks", i, "address"], prefix);
    subnets.push({ path: ["uplinks", i, "address"], label, prefix });
    const gateway = addrOf(u.gateway);
    if (gateway === undefined) return;
    const where: Path = ["uplinks", i, "gateway"];
    const shown = formatIPv4(gateway);
    if (!contains(prefix, gateway)) issue(ctx, where, `${shown} is outside ${label}'s subnet ${networkOf(prefix)}`);
    else if (gateway === prefix.address) issue(ctx, where, `${shown} is ${label}'s own address; give the ISP router's address`);
    else if (hasNetworkAndBroadcast(prefix) && gateway === prefix.network)
      issue(ctx, where, `${shown} is the network address of ${networkOf(prefix)}`);
    else if (hasNetworkAndBroadcast(prefix) && gateway === prefix.broadcast)
      issue(ctx, where, `${shown} is the broadcast address of ${networkOf(prefix)}`);
  });

  // Overlapping subnets make "which interface?" ambiguous for the kernel.
  for (let a = 0; a < subnets.length; a++) {
    for (let b = 0; b < a; b++) {
      if (overlaps(subnets[a].prefix, subnets[b].prefix)) {
        issue(
          ctx,
          subnets[a].path,
          `${networkOf(subnets[a].prefix)} overlaps ${subnets[b].label}'s subnet ${networkOf(subnets[b].prefix)}`,
        );
      }
    }
  }

  const interfaces = [{ path: ["lan", "interface"] as Path, value: str(site.lan?.interface) }];
  uplinks.forEach((u, i) => {
    interfaces.push({ path: ["uplinks", i, "interface"], value: str(u?.interface) });
  });
  duplicates(ctx, interfaces, (v) => `interface ${v} is already used by`);
  duplicates(
    ctx,
    uplinks.map((u, i) => ({ path: ["uplinks", i, "name"], value: str(u?.name) })),
    (v) => `uplink name "${v}" is already used by`,
  );

  const routing = site.routing ?? {};
  const tableBase = int(routing.tableBase) ?? 100;
  const priorityBase = int(routing.priorityBase) ?? 1000;
  const tables = [{ path: ["routing", "table"] as Path, value: int(routing.table) ?? 200 }];
  uplinks.forEach((u, i) => {
    const explicit = int(u?.table);
    tables.push({ path: ["uplinks", i, "table"], value: explicit ?? tableBase + i + 1 });
    if (explicit === undefined && RESERVED_TABLES.has(tableBase + i + 1)) {
      issue(
        ctx,
        ["uplinks", i],
        `its default table id ${tableBase + i + 1} (routing.tableBase + ${i + 1}) is reserved; set uplinks[${i}].table or change routing.tableBase`,
      );
    }
  });
  duplicates(ctx, tables, (v) => `table id ${v} is already used by`);

  const mainPriority = int(routing.mainPriority) ?? 30000;
  const multipathPriority = int(routing.multipathPriority) ?? 30100;
  const priorities = [
    { path: ["routing", "mainPriority"] as Path, value: mainPriority },
    { path: ["routing", "multipathPriority"] as Path, value: multipathPriority },
  ];
  uplinks.forEach((u, i) => {
    const value = int(u?.priority) ?? priorityBase + i + 1;
    priorities.push({ path: ["uplinks", i, "priority"], value });
    if (value >= mainPriority) {
      issue(
        ctx,
        ["uplinks", i, "priority"],
        `rule priority ${value} must be below routing.mainPriority (${mainPriority}), or replies would not leave by their own uplink`,
      );
    }
  });
  // Connection-mark rules: after main, before the multipath default.
  const markBase = int(routing.markPriorityBase) ?? mainPriority;
  uplinks.forEach((_u, i) => {
    priorities.push({ path: ["uplinks", i], value: markBase + i + 1 });
  });
  if (markBase < mainPriority) {
    issue(
      ctx,
      ["routing", "markPriorityBase"],
      `must be at least routing.mainPriority (${mainPriority}): main answers the gateway's own subnets before a marked connection is sent to its uplink`,
    );
  }
  if (multipathPriority <= mainPriority) {
    issue(
      ctx,
      ["routing", "multipathPriority"],
      `must be above routing.mainPriority (${mainPriority}): main is consulted before the multipath default`,
    );
  } else if (uplinks.length > 0 && multipathPriority <= markBase + uplinks.length) {
    issue(
      ctx,
      ["routing", "multipathPriority"],
      `must be above the connection-mark rules (${markBase + 1}..${markBase + uplinks.length}, routing.markPriorityBase + each uplink): established connections are routed by their mark before the multipath default`,
    );
  }
  duplicates(ctx, priorities, (v) => `rule priority ${v} is already used by`);
  const markMask = routing.markMask === undefined ? 0xff00 : int(routing.markMask);
  // An invalid mask is reported at its own field; marks are checked against a valid one only.
  if (markMask !== undefined && markMask >= 1 && markMask <= 0xffffffff) checkMarks(ctx, uplinks, markMask);
  checkPortForwards(ctx, site, uplinks);
  checkHealth(ctx, site, uplinks, subnets);

  const names = new Set(uplinks.map((u) => str(u?.name)).filter(Boolean));
  const pins = list(site.pinnedRoutes);
  pins.forEach((pin, i) => {
    const name = str(pin.uplink);
    if (name !== undefined && !names.has(name)) {
      const known = [...names].map((n) => `"${n}"`).join(", ");
      issue(ctx, ["pinnedRoutes", i, "uplink"], `names no uplink: "${name}" (uplinks are ${known || "none"})`);
    }
  });
  duplicates(
    ctx,
    pins.map((pin, i) => ({
      path: ["pinnedRoutes", i, "destination"],
      value: prefixOf(pin.destination) && networkOf(prefixOf(pin.destination)!),
    })),
    (v) => `${v} is already pinned by`,
  );
}

/** What a DHCP uplink cannot have yet: both need the address at plan time. */
function checkDhcpUplink(ctx: Ctx, site: LooseSite, u: Loose<Uplink>, i: number) {
  const name = str(u.name);
  if (isMapping(site.healthCheck) || isMapping(u.healthCheck))
    issue(
      ctx,
      ["uplinks", i, "address"],
      "dhcp cannot be combined with healthCheck yet: the monitor probes from a fixed address; give the uplink a static address or remove healthCheck",
    );
  list(site.portForwards).forEach((f, j) => {
    if (name !== undefined && str(f.uplink) === name)
      issue(ctx, ["portForwards", j, "uplink"], `"${name}" has address: dhcp; port forwards need a static address on their uplink`);
  });
}

/**
 * Health targets: no repeats, and none on a subnet of the gateway's own (main
 * answers those before any uplink's table, so the probe would never leave
 * through the uplink's modem and would prove nothing about the ISP).
 */
function checkHealth(ctx: Ctx, site: LooseSite, uplinks: Loose<Uplink>[], subnets: { label: string; prefix: Prefix }[]) {
  const targets = (v: unknown, at: Path) => {
    const list = Array.isArray(v) ? v : [];
    const seen = new Map<number, number>();
    list.forEach((t, j) => {
      const addr = addrOf(t);
      if (addr === undefined) return;
      const where = [...at, j];
      const earlier = seen.get(addr);
      if (earlier !== undefined) issue(ctx, where, `${formatIPv4(addr)} is already a target (${formatPath([...at, earlier])})`);
      else seen.set(addr, j);
      const local = subnets.find((s) => contains(s.prefix, addr));
      if (local)
        issue(
          ctx,
          where,
          `${formatIPv4(addr)} is on ${local.label}'s subnet ${networkOf(local.prefix)}: the gateway reaches it directly, so its answers say nothing about an ISP; choose an address on the internet, like 1.1.1.1`,
        );
    });
  };
  const hc = isMapping(site.healthCheck) ? site.healthCheck : undefined;
  if (hc) targets(hc.targets, ["healthCheck", "targets"]);
  uplinks.forEach((u, i) => {
    const own = isMapping(u?.healthCheck) ? u.healthCheck : undefined;
    if (!own) return;
    if (!hc)
      issue(
        ctx,
        ["uplinks", i, "healthCheck"],
        "needs the site's healthCheck (interval and thresholds); add healthCheck: { targets: [...] } at the top level of the site",
      );
    targets(own.targets, ["uplinks", i, "healthCheck", "targets"]);
  });
}

/** Marks: inside routing.markMask, unique; a default mark must fit the mask. */
function checkMarks(ctx: Ctx, uplinks: Loose<Uplink>[], mask: number) {
  const step = markStep(mask);
  const marks = uplinks.map((u, i) => {
    const explicit = int(u?.mark);
    if (explicit !== undefined) {
      if ((explicit & ~mask) >>> 0 !== 0) issue(ctx, ["uplinks", i, "mark"], `${hex(explicit)} is outside routing.markMask ${hex(mask)}`);
      return { path: ["uplinks", i, "mark"] as Path, value: explicit };
    }
    const derived = (i + 1) * step;
    if (mask > 0 && (derived & ~mask) >>> 0 !== 0) {
      issue(
        ctx,
        ["uplinks", i],
        `its default mark ${hex(derived)} (${i + 1} × ${hex(step)}) does not fit in routing.markMask ${hex(mask)}; set uplinks[${i}].mark or widen the mask`,
      );
    }
    return { path: ["uplinks", i] as Path, value: derived };
  });
  duplicates(ctx, marks, (v) => `mark ${hex(v)} is already used by`);
}

/** Port forwards: a known uplink, a target inside the LAN, one forward per (uplink, protocol, port). */
function checkPortForwards(ctx: Ctx, site: LooseSite, uplinks: Loose<Uplink>[]) {
  const names = new Set(uplinks.map((u) => str(u?.name)).filter(Boolean));
  const lan = prefixOf(site.lan?.address);
  const forwards = list(site.portForwards);
  forwards.forEach((f, i) => {
    const name = str(f.uplink);
    if (name !== undefined && !names.has(name)) {
      issue(
        ctx,
        ["portForwards", i, "uplink"],
        `names no uplink: "${name}" (uplinks are ${[...names].map((n) => `"${n}"`).join(", ") || "none"})`,
      );
    }
    const target = str(f.to) === undefined ? undefined : parseForwardTarget(str(f.to)!);
    const address = target && parseIPv4(target.address);
    if (!lan || address === undefined) return;
    const where: Path = ["portForwards", i, "to"];
    if (!contains(lan, address)) issue(ctx, where, `${target!.address} is outside the LAN ${networkOf(lan)}`);
    else if (address === lan.address) issue(ctx, where, `${target!.address} is the gateway's own LAN address; forward to a LAN host`);
    else if (hasNetworkAndBroadcast(lan) && (address === lan.network || address === lan.broadcast)) {
      issue(ctx, where, `${target!.address} is the ${address === lan.network ? "network" : "broadcast"} address of ${networkOf(lan)}`);
    }
  });
  duplicates(
    ctx,
    forwards.map((f, i) => ({
      path: ["portForwards", i] as Path,
      value: str(f.uplink) && str(f.protocol) && int(f.port) ? `${f.protocol} port ${f.port} on ${f.uplink}` : undefined,
    })),
    (v) => `${v} is already forwarded by`,
  );
}

function checkInterfaceAddress(ctx: Ctx, path: Path, prefix: Prefix) {
  const first = Math.floor(prefix.address / 2 ** 24);
  const range =
    first === 0
      ? "a 'this network' (0.0.0.0/8)"
      : first === 127
        ? "a loopback (127.0.0.0/8)"
        : first >= 240
          ? "a reserved (240.0.0.0/4)"
          : first >= 224
            ? "a multicast (224.0.0.0/4)"
            : undefined;
  if (range) issue(ctx, path, `${formatIPv4(prefix.address)} is ${range} address, not usable on an interface`);
  else if (prefix.length < 8)
    issue(ctx, path, `/${prefix.length} is too short for an interface's subnet; give the real prefix length (e.g. /24)`);
  else if (prefix.length === 32) issue(ctx, path, "needs the subnet's prefix length (e.g. /24); /32 leaves no room for a neighbour");
  else if (hasNetworkAndBroadcast(prefix) && prefix.address === prefix.network)
    issue(ctx, path, `${formatIPv4(prefix.address)} is the network address of ${networkOf(prefix)}, not a usable interface address`);
  else if (hasNetworkAndBroadcast(prefix) && prefix.address === prefix.broadcast)
    issue(ctx, path, `${formatIPv4(prefix.address)} is the broadcast address of ${networkOf(prefix)}, not a usable interface address`);
}

/** Reports each repeat of a value at its own path, naming the first use. */
function duplicates<T>(ctx: Ctx, entries: { path: Path; value: T | undefined }[], what: (value: T) => string) {
  const first = new Map<T, Path>();
  for (const { path, value } of entries) {
    if (value === undefined) continue;
    const earlier = first.get(value);
    if (earlier) issue(ctx, path, `${what(value)} ${formatPath(earlier)}`);
    else first.set(value, path);
  }
}

/** ["uplinks", 1, "gateway"] -> "uplinks[1].gateway" */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === "number" ? `[${part}]` : i === 0 ? String(part) : `.${String(part)}`)).join("");
}
