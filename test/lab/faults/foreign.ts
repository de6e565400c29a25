// Foreign state in each kind of object multiwan owns (issue 15, Build 1 and
// item 8's "foreign state" row), as data: test/lab/e2e/foreign.test.ts runs
// them, and the fault-injection suite includes them in its result table.
//
// Each case puts someone else's object where the lab's site (lab/up.ts:
// isp1 on eth1 with table 101 and rule 1001, the multipath table 200) would
// own it. `up` must refuse, naming the object, its content and the field;
// moving the site off it with that field (moveAway) or removing the object
// (remove) lets `up` succeed; `destroy` leaves it exactly as `check` printed it.

/** What kind of object the foreign state is in. */
export type ForeignKind = "route" | "rule" | "nft table" | "iptables chain";
export type Backend = "nftables" | "iptables";

export interface ForeignCase {
  /** A short name for the result table. */
  name: string;
  kind: ForeignKind;
  /** The NAT backends whose site owns this object. */
  backends: readonly Backend[];
  /** Shell commands run on the gateway that put the foreign object there. */
  inject: string;
  /** Prints the object's whole state (`ip -j`, `nft -j`, `iptables -S`): the same before and after means untouched. */
  check: string;
  /** Shell commands that take the foreign object away again. */
  remove: string;
  /** The site field named in the refusal; moveAway sets it. */
  field: string;
  /** What the refusal must say: the object and its content. */
  refusal: RegExp;
  /** Moves the lab's site off the object through `field`. */
  moveAway(site: Record<string, any>): void;
}

export const FOREIGN_CASES: readonly ForeignCase[] = [
  {
    name: "default route in isp1's table 101",
    kind: "route",
    backends: ["nftables", "iptables"],
    inject: "ip route add default via 192.168.1.77 dev eth1 table 101",
    check: "ip -j route show table 101",
    remove: "ip route del default via 192.168.1.77 dev eth1 table 101",
    field: "uplinks[0].table",
    refusal: /table 101 holds a route multiwan did not add \(not proto 77\): "default via 192\.168\.1\.77 dev eth1 proto boot"/,
    moveAway: (site) => {
      site.uplinks[0].table = 111;
    },
  },
  {
    name: "default route in the multipath table 200",
    kind: "route",
    backends: ["nftables", "iptables"],
    inject: "ip route add default via 192.168.2.77 dev eth2 table 200 proto static",
    check: "ip -j route show table 200",
    remove: "ip route del default via 192.168.2.77 dev eth2 table 200 proto static",
    field: "routing.table",
    refusal: /table 200 holds a route multiwan did not add \(not proto 77\): "default via 192\.168\.2\.77 dev eth2 proto static"/,
    moveAway: (site) => {
      site.routing = { ...(site.routing ?? {}), table: 210 };
    },
  },
  {
    name: "rule at isp1's priority 1001",
    kind: "rule",
    backends: ["nftables", "iptables"],
    inject: "ip rule add pref 1001 from 10.99.0.1 lookup 55",
    check: "ip -j rule show pref 1001",
    remove: "ip rule del pref 1001 from 10.99.0.1 lookup 55",
    field: "uplinks[0].priority",
    refusal: /priority 1001 holds a rule multiwan did not add: "from 10\.99\.0\.1 lookup 55"/,
    moveAway: (site) => {
      site.uplinks[0].priority = 1011;
    },
  },
  {
    name: "nft table multiwan-forward with a drop rule",
    kind: "nft table",
    backends: ["nftables"],
    inject:
      "printf 'table ip multiwan-forward {\\n chain forward {\\n  type filter hook forward priority 0; policy accept;\\n  drop\\n }\\n}\\n' | nft -f -",
    check: "nft -j list table ip multiwan-forward",
    remove: "nft delete table ip multiwan-forward",
    field: "nat.backend",
    refusal:
      /nft table ip multiwan-forward exists and is not multiwan's \(no record of ours in \/etc\/multiwan names it\): "chain forward: type filter hook forward priority 0 policy accept", "rule forward: drop"/,
    moveAway: (site) => {
      site.nat = { ...site.nat, backend: "iptables" };
    },
  },
  {
    name: "iptables chain MW-FORWARD with a drop rule",
    kind: "iptables chain",
    backends: ["iptables"],
    // iptables-nft makes the nft table `ip filter` on first use; the case notes (in the gateway's /run) whether it did, to take it away again.
    inject: `{ nft list table ip filter >/dev/null 2>&1 || : >/run/mw-foreign-made-filter; } && iptables -t filter -N MW-FORWARD && iptables -t filter -A MW-FORWARD -j DROP`,
    check: "iptables -t filter -S MW-FORWARD",
    remove: `iptables -t filter -F MW-FORWARD && iptables -t filter -X MW-FORWARD && if [ -e /run/mw-foreign-made-filter ]; then rm /run/mw-foreign-made-filter; [ -n "$(iptables -t filter -S | grep -v '^-P [A-Z]* ACCEPT$')" ] || nft delete table ip filter; fi`,
    field: "nat.backend",
    refusal:
      /iptables chain MW-FORWARD \(table filter\) exists and is not multiwan's \(no record of ours in \/etc\/multiwan names it\): "-A MW-FORWARD -j DROP"/,
    moveAway: (site) => {
      site.nat = { ...site.nat, backend: "nftables" };
    },
  },
];

/** The cases whose object the site owns with this NAT backend. */
export const foreignCasesFor = (backend: Backend): ForeignCase[] => FOREIGN_CASES.filter((c) => c.backends.includes(backend));

/** The refusal of one case: its object and content, then the field that moves multiwan off it. */
export function refusalNames(c: ForeignCase, output: string): boolean {
  const line = output.split("\n").find((l) => c.refusal.test(l));
  return line?.includes(`set ${c.field}`) ?? false;
}
