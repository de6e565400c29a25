// Masquerade (per uplink): LAN traffic leaving through the uplink takes the
// uplink's address, in a table or chain of our own.
import { z } from "zod";
import type { Kind } from "./kind";
import { interfaceName, natBackend, uplinkName } from "./fields";
import { type Body, byBackend, iptablesBody, nftBody } from "./nat";

export const masqueradeSchema = z.strictObject({ uplink: uplinkName, interface: interfaceName, backend: natBackend });
export type MasqueradeEntry = z.infer<typeof masqueradeSchema>;

function body(e: MasqueradeEntry): Body<unknown> {
  return e.backend === "nftables"
    ? nftBody(`multiwan-nat-${e.uplink}`, () => [
        { name: "postrouting", type: "nat", hook: "postrouting", priority: "srcnat", rules: [`oifname "${e.interface}" masquerade`] },
      ])
    : iptablesBody(() => [{ table: "nat", hook: "POSTROUTING", chain: `MW-NAT-${e.uplink}`, rules: [`-o ${e.interface} -j MASQUERADE`] }]);
}

export const masquerade: Kind<MasqueradeEntry> = {
  schema: masqueradeSchema,
  key: (e) => `masquerade-${e.uplink}`,
  id: (e) => `masquerade-${e.uplink}`,
  replaceOn: ["backend", "uplink"],
  bootOrder: 60,
  title: (e) => `Masquerade ${e.uplink} (out of ${e.interface}, ${e.backend})`,
  ...byBackend(body),
};
