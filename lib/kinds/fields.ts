// Field validators of plan entries that the site schema does not have
// itself: what `ip` prints or takes, checked as strictly as the site is.
import { z } from "zod";
import { isNetworkPrefix, parseIPv4, parsePrefix } from "../ipv4";

export { interfaceAddress, interfaceName, ipv4, protocolNumber, rulePriority, tableId, uplinkName } from "../schema";

/** A route destination as `ip route` spells it: "default", a bare host, or a network prefix. */
export const routeDestination = z.string().refine(
  (s) => {
    if (s === "default" || parseIPv4(s) !== undefined) return true;
    const prefix = parsePrefix(s);
    return prefix !== undefined && prefix.length > 0 && prefix.length < 32 && isNetworkPrefix(prefix);
  },
  { error: "must be a route destination as ip prints it: default, an address, or a network like 198.51.100.0/24" },
);

export const natBackend = z.enum(["nftables", "iptables"]);
export type NatBackend = z.infer<typeof natBackend>;
