// Comparing lab snapshots of the gateway, shared by the end-to-end tests.
import assert from "node:assert/strict";
import { SEEN_VIA, type GatewaySnapshot, type Lab } from "../../lab/lab";

/** IPv4 routes only: IPv6 link-local routes appear on their own a while after the links come up. */
export const ipv4Routes = (snap: GatewaySnapshot) =>
  snap.routes
    .split("\n")
    .filter((l) => !l.includes(":"))
    .join("\n");

/** The gateway is exactly as in `pristine`: rules, IPv4 routes, nft and iptables rulesets, sysctls, disk. */
export function assertRestored(snap: GatewaySnapshot, pristine: GatewaySnapshot): void {
  assert.equal(snap.rules, pristine.rules);
  assert.equal(ipv4Routes(snap), ipv4Routes(pristine));
  assert.equal(snap.nft, pristine.nft);
  assert.equal(snap.iptables, pristine.iptables);
  assert.deepEqual(snap.sysctls, pristine.sysctls);
  assert.deepEqual(snap.disk, pristine.disk);
}

/** Flows by uplink, as the internet's whoami server saw their source. */
function tallyIsp1(tally: Map<string, number>): { isp1: number; total: number; other: number } {
  const isp1 = tally.get(SEEN_VIA.isp1) ?? 0;
  const isp2 = tally.get(SEEN_VIA.isp2) ?? 0;
  return { isp1, total: isp1 + isp2, other: [...tally.values()].reduce((a, b) => a + b, 0) - isp1 - isp2 };
}

/**
 * Asserts that isp1 carries `target` of 600 new connections within ±5 points
 * (issue 6b), and returns the measured share. Per-flow hashing is a random
 * draw: at 600 connections σ is about 1.9 points for 2:1, so ±5 points is
 * ±2.6σ and a correct gateway misses it about once in a hundred checks. A miss
 * therefore draws 600 more and judges all 1,200 (±5 points is then ±3.7σ): a
 * wrong split (1:1 is 17 points off) still fails both stages; a right one no
 * longer fails at random.
 */
export async function assertIsp1Share(lab: Lab, target: number, label: string): Promise<number> {
  let seen = { isp1: 0, total: 0, other: 0 };
  for (let stage = 1; stage <= 2; stage++) {
    const next = tallyIsp1(await lab.flows({ count: 600 }));
    seen = { isp1: seen.isp1 + next.isp1, total: seen.total + next.total, other: seen.other + next.other };
    assert.equal(seen.other, 0, `${label}: every flow left through an uplink`);
    assert.equal(seen.total, 600 * stage);
    const share = seen.isp1 / seen.total;
    if (Math.abs(share - target) <= 0.05) return share;
    if (stage === 2) {
      assert.fail(`${label}: isp1 carried ${(share * 100).toFixed(1)}% of ${seen.total} flows, expected ${(target * 100).toFixed(1)}% ± 5`);
    }
  }
  throw new Error("unreachable");
}
