// PortForwards (per uplink): connections to the uplink's own address and a
// port go to a LAN host (DNAT), with the matching forward accept. Their
// replies leave through the uplink they came in by because ConnectionMark
// marks the connection on arrival, whatever the LAN host's own outbound
// policy is (pinned routes, weights).
import { z } from "zod";
import type { Kind } from "./kind";
import { interfaceName, ipv4, natBackend, uplinkName } from "./fields";
import { type Body, byBackend, iptablesBody, nftBody } from "./nat";
import { tcpPort } from "../schema";

const forward = z.strictObject({ protocol: z.enum(["tcp", "udp"]), port: tcpPort, toAddress: ipv4, toPort: tcpPort });

export const portForwardsSchema = z.strictObject({
  uplink: uplinkName,
  interface: interfaceName,
  /** The uplink's own address: only connections to it are forwarded. */
  address: ipv4,
  lanInterface: interfaceName,
  backend: natBackend,
  forwards: z.array(forward).min(1),
});
export type PortForward = z.infer<typeof forward>;
export type PortForwardsEntry = z.infer<typeof portForwardsSchema>;

function body(e: PortForwardsEntry): Body<unknown> {
  if (e.backend === "iptables") {
    return iptablesBody(() => [
      {
        table: "nat",
        hook: "PREROUTING",
        chain: `MW-DNAT-${e.uplink}`,
        rules: e.forwards.map(
          (f) =>
            `-d ${e.address}/32 -i ${e.interface} -p ${f.protocol} -m ${f.protocol} --dport ${f.port} -j DNAT --to-destination ${f.toAddress}:${f.toPort}`,
        ),
      },
      {
        table: "filter",
        hook: "FORWARD",
        chain: `MW-PFWD-${e.uplink}`,
        rules: e.forwards.map(
          (f) =>
            `-d ${f.toAddress}/32 -i ${e.interface} -o ${e.lanInterface} -p ${f.protocol} -m ${f.protocol} --dport ${f.toPort} -m conntrack --ctstate DNAT -j ACCEPT`,
        ),
      },
    ]);
  }
  return nftBody(`multiwan-dnat-${e.uplink}`, () => [
    {
      name: "prerouting",
      type: "nat",
      hook: "prerouting",
      priority: "dstnat",
      rules: e.forwards.map(
        (f) => `iifname "${e.interface}" ip daddr ${e.address} ${f.protocol} dport ${f.port} dnat to ${f.toAddress}:${f.toPort}`,
      ),
    },
    {
      name: "forward",
      type: "filter",
      hook: "forward",
      priority: "filter",
      rules: e.forwards.map(
        (f) =>
          `iifname "${e.interface}" oifname "${e.lanInterface}" ip daddr ${f.toAddress} ${f.protocol} dport ${f.toPort} ct status dnat accept`,
      ),
    },
  ]);
}

export const portForwards: Kind<PortForwardsEntry> = {
  schema: portForwardsSchema,
  key: (e) => `portforwards-${e.uplink}`,
  id: (e) => `portforwards-${e.uplink}`,
  replaceOn: ["backend", "uplink"],
  bootOrder: 65,
  title: (e) => `PortForwards ${e.uplink} (${e.forwards.length} to ${e.lanInterface}, ${e.backend})`,
  ...byBackend(body),
};
