// Forward: LAN -> uplinks, and the replies, accepted in a table or chain of
// our own.
import { z } from "zod";
import type { Kind } from "./kind";
import { interfaceName, natBackend } from "./fields";
import { type Body, byBackend, iptablesBody, nftBody } from "./nat";

export const forwardSchema = z.strictObject({
  lanInterface: interfaceName,
  uplinkInterfaces: z.array(interfaceName).min(1),
  backend: natBackend,
});
export type ForwardEntry = z.infer<typeof forwardSchema>;

function body(e: ForwardEntry): Body<unknown> {
  if (e.backend === "iptables") {
    return iptablesBody(() => [
      {
        table: "filter",
        hook: "FORWARD",
        chain: "MW-FORWARD",
        rules: [
          ...e.uplinkInterfaces.map((i) => `-i ${e.lanInterface} -o ${i} -j ACCEPT`),
          `-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
        ],
      },
    ]);
  }
  // nft lists a one-element set as a plain match; write it that way so the compare holds.
  const out = e.uplinkInterfaces.length === 1 ? `"${e.uplinkInterfaces[0]}"` : `{ ${e.uplinkInterfaces.map((i) => `"${i}"`).join(", ")} }`;
  return nftBody("multiwan-forward", () => [
    {
      name: "forward",
      type: "filter",
      hook: "forward",
      priority: "filter",
      rules: [`iifname "${e.lanInterface}" oifname ${out} accept`, `ct state established,related accept`],
    },
  ]);
}

export const forward: Kind<ForwardEntry> = {
  schema: forwardSchema,
  key: () => "forward",
  id: () => "forward",
  replaceOn: ["backend"],
  bootOrder: 70,
  title: (e) => `Forward (${e.lanInterface} -> ${e.uplinkInterfaces.join(", ")}, ${e.backend})`,
  ...byBackend(body),
};
