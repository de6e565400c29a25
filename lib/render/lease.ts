// DHCP uplinks (design §11): their address, subnet and (unless configured)
// gateway are the lease's, so the plan carries the word "dhcp" where a static
// uplink has a value, and each script reads the current lease on the box when
// it runs: at `pulumi up`, at boot, and whenever /etc/multiwan/dhcp.sh re-runs
// the boot copies after a lease change. Nothing stale is ever written.
import { sh } from "./shell";

/** The placeholder in plan entries: "the current lease's value". */
export const LEASE = "dhcp";

export const isLease = (v: string | undefined) => v === LEASE;

/** The shell variables that hold one interface's lease in a script. */
export interface LeaseRef {
  dev: string;
  /** Address without prefix length; "" without a lease. */
  addr: string;
  /** The leased subnet, e.g. 10.0.2.0/24; "" without a lease. */
  net: string;
  /** The learned gateway; "" while the DHCP client has installed no default route. */
  gw: string;
}

/** Lease variables for `devs`, numbered in order: mw_l1_addr, mw_l1_net, mw_l1_gw, ... */
export function leaseRefs(devs: readonly string[]): LeaseRef[] {
  return [...new Set(devs)].map((dev, i) => ({
    dev,
    addr: `$mw_l${i + 1}_addr`,
    net: `$mw_l${i + 1}_net`,
    gw: `$mw_l${i + 1}_gw`,
  }));
}

/** The step that reads every lease a script needs (mw_lease is in the prelude). */
export function readLeases(refs: readonly LeaseRef[]): string[] {
  if (refs.length === 0) return [];
  return [
    `step "read the DHCP lease of ${refs.map((r) => r.dev).join(", ")} (empty without one)"`,
    ...refs.map((r, i) => {
      const v = `mw_l${i + 1}`;
      return `set -- $(mw_lease ${sh(r.dev)}); ${v}_addr=\${1:-}; ${v}_addr=\${${v}_addr%/*}; ${v}_net=\${2:-}; ${v}_gw=\${3:-}`;
    }),
    "",
  ];
}

export const refOf = (refs: readonly LeaseRef[], dev: string) => refs.find((r) => r.dev === dev)!;
