// A DHCP uplink's current lease as a read script prints it (mw_lease in the
// prelude): "<address>/<length> <subnet> <gateway>", nothing without one.
// Resources read the lease's values back as "dhcp", the plan's placeholder,
// so a new lease is status (the `health` output), never drift (design §11).
import { type Facts, factText } from "./sections";

export interface Lease {
  dev: string;
  /** The address without its length; undefined without a lease. */
  address?: string;
  prefix?: string;
  subnet?: string;
  gateway?: string;
}

export function leaseOf(facts: Facts, dev: string): Lease {
  const [prefix, subnet, gateway] = factText(facts, `lease-${dev}`).split(/\s+/).filter(Boolean);
  if (!prefix) return { dev };
  return { dev, address: prefix.split("/")[0], prefix, subnet, gateway };
}

/** Each lease's values in state lines -> "dhcp", word by word and only beside its own interface. */
export function unlease(lines: string[], leases: readonly Lease[]): string[] {
  return lines.map((line) => {
    let out = ` ${line} `;
    for (const l of leases) {
      if (l.subnet) out = out.split(` ${l.subnet} dev ${l.dev} `).join(` dhcp dev ${l.dev} `);
      if (l.gateway) out = out.split(` via ${l.gateway} dev ${l.dev} `).join(` via dhcp dev ${l.dev} `);
      if (l.address) out = out.split(` dev ${l.dev} scope link src ${l.address} `).join(` dev ${l.dev} scope link src dhcp `);
      if (l.address) out = out.split(` from ${l.address} `).join(" from dhcp ");
    }
    return out.trim();
  });
}

/** "isp2 lease 10.0.2.5/24 via 10.0.2.1", or "isp2 no DHCP lease": a DHCP uplink's `health` line. */
export function leaseStatus(uplink: string, l: Lease): string {
  if (!l.address) return `${uplink} no DHCP lease on ${l.dev}`;
  return `${uplink} lease ${l.prefix} on ${l.dev}${l.gateway ? ` via ${l.gateway}` : " (no gateway yet)"}`;
}
