// Comparing lab snapshots of the gateway, shared by the end-to-end tests.
import assert from "node:assert/strict";
import type { GatewaySnapshot } from "../../lab/lab";

/** IPv4 routes only: IPv6 link-local routes appear on their own a while after the links come up. */
export const ipv4Routes = (snap: GatewaySnapshot) => snap.routes.split("\n").filter((l) => !l.includes(":")).join("\n");

/** The gateway is exactly as in `pristine`: rules, IPv4 routes, nft and iptables rulesets, sysctls, disk. */
export function assertRestored(snap: GatewaySnapshot, pristine: GatewaySnapshot): void {
  assert.equal(snap.rules, pristine.rules);
  assert.equal(ipv4Routes(snap), ipv4Routes(pristine));
  assert.equal(snap.nft, pristine.nft);
  assert.equal(snap.iptables, pristine.iptables);
  assert.deepEqual(snap.sysctls, pristine.sysctls);
  assert.deepEqual(snap.disk, pristine.disk);
}
