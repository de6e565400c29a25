// lib/facts and each kind's parser: real read outputs captured from a lab
// gateway (test/fixtures/facts/<kind>/<case>.json; recapture with
// `npx tsc -b && node dist/test/fixtures/facts/capture.js` as root) parse to
// exactly their recorded state; an applied resource reads back as exactly its
// expected state (no false drift), an absent one as nothing. Every kind whose
// read uses `ip` has two sets: iproute2 6.1 (Debian 12's, the lab's) and
// <key>-iproute2-7.1.0-<state>.json, read by iproute2 7.1 built from source
// (`capture.js --ip=PATH`). 7.1 spells scopes the same, but its `dev` filter
// also lists a multipath route with a nexthop on that device.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { nftLines } from "../../lib/facts/nft";
import { routesOf } from "../../lib/facts/routes";
import { ruleText } from "../../lib/facts/rules";
import { parseFacts } from "../../lib/facts/sections";
import { KINDS, expectedState, parseState } from "../../lib/render";
import { FACTS_FIXTURES, jsonFiles, readJson, type FactsFixture } from "../support/fixtures";

describe("captured read outputs (test/fixtures/facts)", () => {
  for (const kind of KINDS) {
    const files = jsonFiles(path.join(FACTS_FIXTURES, kind));
    test(`${kind} has an applied and an absent capture`, () => {
      assert.ok(files.some((f) => f.endsWith("-applied.json")) && files.some((f) => f.endsWith("-absent.json")), kind);
    });
    for (const file of files) {
      const name = path.basename(file, ".json");
      test(`${kind}/${name}`, () => {
        const fixture = readJson<FactsFixture>(file);
        const state = parseState(kind, fixture.entry as never, fixture.output);
        assert.deepEqual(state, fixture.state, `parsed state differs from ${path.relative(process.cwd(), file)}`);
        // An outage is not drift: what the monitor made reads as the desired state.
        if (name.endsWith("-applied") || name.endsWith("-outage"))
          assert.deepEqual(state, expectedState(kind, fixture.entry as never), "an applied resource reads back as its expected state");
        // Sysctls are always there: after remove they hold the host's own values again.
        if (name.endsWith("-absent"))
          assert.deepEqual(
            state.filter((l) => !l.startsWith("sysctl ")),
            [],
            "nothing of ours is left after remove",
          );
      });
    }
  }
});

describe("iproute2 spellings", () => {
  const route = (scope: string | number) =>
    parseFacts(`@@ routes\n[{"dst":"192.168.1.0/24","dev":"eth1","scope":${JSON.stringify(scope)},"prefsrc":"192.168.1.1","flags":[]}]\n`);
  test("a numeric scope (iproute2 6.1 with -N) and a named one (newer iproute2) read the same", () => {
    assert.deepEqual(routesOf(route(253), "routes").lines, ["192.168.1.0/24 dev eth1 scope link src 192.168.1.1"]);
    assert.deepEqual(routesOf(route("253"), "routes").lines, routesOf(route("link"), "routes").lines);
  });
  test("output that is not JSON is drift, not silence", () => {
    assert.deepEqual(routesOf(parseFacts("@@ routes\n[\n"), "routes").lines, ["unreadable routes: ["]);
  });
  test("a missing fact or an empty one reads as no routes", () => {
    assert.deepEqual(routesOf(parseFacts("@@ routes\n"), "routes").lines, []);
    assert.deepEqual(routesOf(parseFacts(""), "routes").lines, []);
  });
  test("rules: fwmark with its mask, a source prefix, suppress_prefixlength", () => {
    assert.equal(
      ruleText({ priority: 2001, src: "all", fwmark: "0x100", fwmask: "0xff00", table: "101", protocol: "77" }),
      "2001: from all fwmark 0x100/0xff00 lookup 101 proto 77",
    );
    assert.equal(ruleText({ priority: 5, src: "10.0.0.0", srclen: 24, table: "7" }), "5: from 10.0.0.0/24 lookup 7");
    assert.equal(
      ruleText({ priority: 30000, src: "all", table: "254", suppress_prefixlen: 0, protocol: "77" }),
      "30000: from all lookup 254 suppress_prefixlength 0 proto 77",
    );
  });
});

describe("nft JSON", () => {
  const facts = (items: unknown[]) =>
    parseFacts(`@@ nft\n${JSON.stringify({ nftables: [{ metainfo: { version: "1.0.6" } }, ...items] })}\n`);
  const rule = (expr: unknown[]) => ({ rule: { family: "ip", table: "t", chain: "c", handle: 2, expr } });
  test("a rule that is not ours shows as its JSON, so it is drift", () => {
    const lines = nftLines(
      facts([rule([{ match: { op: "==", left: { meta: { key: "iifname" } }, right: "eth9" } }, { weird: { x: 1 } }])]),
      "nft",
    );
    assert.deepEqual(lines, ['rule c: iifname "eth9" {"weird":{"x":1}}']);
  });
  test("marks, sets, ct state, dnat and counters in nft's own words", () => {
    const lines = nftLines(
      facts([
        rule([
          { match: { op: "==", left: { "&": [{ ct: { key: "mark" } }, 65280] }, right: 256 } },
          { mangle: { key: { meta: { key: "mark" } }, value: { "|": [{ "&": [{ meta: { key: "mark" } }, 4294902015] }, 256] } } },
        ]),
        rule([
          { match: { op: "==", left: { meta: { key: "oifname" } }, right: { set: ["eth1", "eth2"] } } },
          { counter: { packets: 3, bytes: 180 } },
          { accept: null },
        ]),
        rule([{ match: { op: "in", left: { ct: { key: "state" } }, right: ["established", "related"] } }, { accept: null }]),
        rule([
          { match: { op: "==", left: { payload: { protocol: "tcp", field: "dport" } }, right: 8080 } },
          { dnat: { addr: "192.168.3.10", port: 80 } },
        ]),
      ]),
      "nft",
    );
    assert.deepEqual(lines, [
      "rule c: ct mark & 0x0000ff00 == 0x00000100 meta mark set meta mark & 0xffff00ff | 0x00000100",
      'rule c: oifname { "eth1", "eth2" } counter accept',
      "rule c: ct state established,related accept",
      "rule c: tcp dport 8080 dnat to 192.168.3.10:80",
    ]);
  });
  test("an absent table reads as nothing", () => assert.deepEqual(nftLines(parseFacts("@@ nft\n"), "nft"), []));
});
