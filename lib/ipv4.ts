// IPv4 address and prefix arithmetic. Pure and strict: these functions decide
// what may reach a shell, so anything but canonical dotted quads is refused.

/** Parses "a.b.c.d" (no leading zeros, each part 0..255) to a 32-bit number. */
export function parseIPv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIPv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

export interface Prefix {
  /** The address as written (may have host bits set, e.g. an interface address). */
  address: number;
  length: number;
  network: number;
  broadcast: number;
}

/** Parses "a.b.c.d/len". Host bits may be set; see isNetworkPrefix. */
export function parsePrefix(text: string): Prefix | undefined {
  const match = /^([0-9.]+)\/(0|[1-9][0-9]?)$/.exec(text);
  if (!match) return undefined;
  const address = parseIPv4(match[1]);
  const length = Number(match[2]);
  if (address === undefined || length > 32) return undefined;
  const size = 2 ** (32 - length);
  const network = address - (address % size);
  return { address, length, network, broadcast: network + size - 1 };
}

export function contains(prefix: Prefix, address: number): boolean {
  return address >= prefix.network && address <= prefix.broadcast;
}

export function overlaps(a: Prefix, b: Prefix): boolean {
  return a.network <= b.broadcast && b.network <= a.broadcast;
}

/** "192.168.1.1/24" -> "192.168.1.0/24". */
export function networkOf(prefix: Prefix): string {
  return `${formatIPv4(prefix.network)}/${prefix.length}`;
}

/** True when the prefix has no host bits set (a route destination). */
export function isNetworkPrefix(prefix: Prefix): boolean {
  return prefix.address === prefix.network;
}

/** /31 (RFC 3021) and /32 have no separate network and broadcast addresses. */
export function hasNetworkAndBroadcast(prefix: Prefix): boolean {
  return prefix.length <= 30;
}

/** How `ip route` prints a destination: "default", a bare host, or a prefix. */
export function ipRouteDestination(prefix: Prefix): string {
  if (prefix.length === 0) return "default";
  if (prefix.length === 32) return formatIPv4(prefix.network);
  return networkOf(prefix);
}
