// Ownership (issue 15, Build 1): what the preflight reads of every object the
// site would own, and the clashes it reports. The outputs are real, captured
// by test/fixtures/facts/preflight/capture.sh in a network namespace holding
// foreign routes, rules, an nft table and an iptables chain; each fixture
// records the clashes it must give, word for word.
import assert from "node:assert/strict";
import path from "node:path";
import { describe, test } from "node:test";
import { parseFacts } from "../../lib/facts/sections";
import { type Owned, formatOwned, guardSteps, ownershipClashes, ownershipFacts, parseOwned } from "../../lib/ownership";
import { preflightSchema } from "../../lib/render/preflight";
import { KINDS, PRELUDE, kindOf, renderScripts, renderSourced } from "../../lib/render";
import { renderPreflight } from "../../lib/render/preflight";
import { preflightFindings } from "../../provider/preflight";
import { FACTS_FIXTURES, jsonFiles, readJson, stackPlan } from "../support/fixtures";
import { planResources } from "../../lib/resources";

interface PreflightFixture {
  description: string;
  stack: "home";
  backend: "nftables" | "iptables";
  setup: string;
  output: string;
  clashes: string[];
}

const DIR = path.join(FACTS_FIXTURES, "preflight");

describe("the preflight's clashes (test/fixtures/facts/preflight)", () => {
  const files = jsonFiles(DIR);
  test("there is a capture with foreign state for each backend and one with only ours", () => {
    assert.deepEqual(files.map((f) => path.basename(f, ".json")).sort(), [
      "home-iptables-foreign",
      "home-nftables-foreign",
      "home-nftables-ours",
    ]);
  });
  for (const file of files) {
    test(path.basename(file, ".json"), () => {
      const fx = readJson<PreflightFixture>(file);
      const { problems, clashes } = preflightFindings(stackPlan(fx.stack, fx.backend).preflight, fx.output);
      assert.deepEqual(problems, [], "the namespace had every interface and tool");
      assert.deepEqual(clashes, fx.clashes);
    });
  }

  test("each clash names the object, its content, whose it would be and the field that moves us off it", () => {
    const fx = readJson<PreflightFixture>(path.join(DIR, "home-nftables-foreign.json"));
    const [t101, t200, rule, nft] = preflightFindings(stackPlan("home", "nftables").preflight, fx.output).clashes;
    // Our own route in table 101 (10.0.0.0/8, proto 77) is not a clash; the foreign default is, with its protocol.
    assert.equal(
      t101,
      `table 101 holds a route multiwan did not add (not proto 77): "default via 192.168.1.77 dev eth1 proto boot"; it would be isp1's routing table: set uplinks[0].table or routing.tableBase to move multiwan off it, or remove that route`,
    );
    assert.match(t200, /^table 200 holds 2 routes .*: set routing\.table to move multiwan off it, or remove those routes$/);
    // PolicyRule's own words (mw_rule: "priority P holds a rule multiwan did not add: ..."); our rule at 30100 is not listed.
    assert.match(
      rule,
      /^priority 1001 holds a rule multiwan did not add: "from 10\.99\.0\.1 lookup 55"; .*set uplinks\[0\]\.priority or routing\.priorityBase/,
    );
    assert.match(nft, /^nft table ip multiwan-forward exists and is not multiwan's .*"rule forward: drop"; .*set nat\.backend/);
  });
});

describe("clash parsing, case by case", () => {
  const owned = (o: Partial<Owned> & Pick<Owned, "object">): Owned =>
    ({ owner: "isp1's routing table", field: "uplinks[0].table", ...o }) as Owned;
  const routes = owned({ object: "routes", table: 101, protocol: 77 });
  test("an absent or empty table, or one holding only our routes, is no clash", () => {
    assert.deepEqual(ownershipClashes([routes], parseFacts("")), []);
    assert.deepEqual(ownershipClashes([routes], parseFacts("@@ routes:101\n")), []);
    assert.deepEqual(
      ownershipClashes(
        [routes],
        parseFacts('@@ routes:101\n[{"dst":"default","gateway":"192.168.1.254","dev":"eth1","protocol":"77","flags":[]}]\n'),
      ),
      [],
    );
  });
  test("a foreign route is listed as ip prints it, with its protocol by name; more than four are counted", () => {
    const many = Array.from({ length: 6 }, (_, i) => ({ dst: `10.${i}.0.0/16`, dev: "eth1", protocol: "16", scope: "253", flags: [] }));
    const [c] = ownershipClashes([routes], parseFacts(`@@ routes:101\n${JSON.stringify(many)}\n`));
    assert.match(
      c,
      /^table 101 holds 6 routes multiwan did not add \(not proto 77\): "10\.0\.0\.0\/16 dev eth1 scope link proto dhcp", .* and 2 more;/,
    );
  });
  test("output that is not JSON is a clash, not silence", () => {
    const [c] = ownershipClashes([routes], parseFacts("@@ routes:101\n[\n"));
    assert.match(c, /^table 101 holds a route multiwan did not add \(not proto 77\): "unreadable routes:101: \["/);
  });
  test("an nft table or chain reported at all is foreign (the preflight prints it only then), even when empty", () => {
    const nft = owned({ object: "nft", name: "multiwan-forward", owner: "the forwarding table", field: "nat.backend" });
    const empty =
      '{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"table": {"family": "ip", "name": "multiwan-forward", "handle": 1}}]}';
    assert.deepEqual(ownershipClashes([nft], parseFacts("")), []);
    assert.match(
      ownershipClashes([nft], parseFacts(`@@ nft:multiwan-forward\n${empty}\n`))[0],
      /not multiwan's \(no record of ours in \/etc\/multiwan names it\): empty; /,
    );
    const chain = owned({ object: "chain", table: "filter", chain: "MW-FORWARD", owner: "the forwarding chain", field: "nat.backend" });
    assert.match(
      ownershipClashes([chain], parseFacts("@@ chain:filter:MW-FORWARD\n-N MW-FORWARD\n"))[0],
      /^iptables chain MW-FORWARD \(table filter\) .*: empty; /,
    );
  });
  test("an object two resources claim (table 200: multipath and pinned routes) is read and reported once", () => {
    const twice = [routes, { ...routes, owner: "someone else" }];
    assert.equal(ownershipFacts(twice).length, 1);
    assert.equal(ownershipClashes(twice, parseFacts('@@ routes:101\n[{"dst":"default","dev":"eth1","flags":[]}]\n')).length, 1);
  });
});

describe("the preflight script and the apply guards", () => {
  test("the preflight reads every owned object after its problem lines and changes nothing", () => {
    for (const backend of ["nftables", "iptables"] as const) {
      const p = stackPlan("home", backend).preflight;
      const script = renderPreflight(p);
      const facts = ownershipFacts(p.owned);
      assert.ok(script.includes(facts.join("\n")), backend);
      assert.ok(script.indexOf(facts[0]) > script.lastIndexOf('problem "interface'), "facts come after every problem line");
      const body = script.slice(script.indexOf(PRELUDE) + PRELUDE.length);
      assert.doesNotMatch(body, /\b(ip (route|rule) (add|del|replace|flush)|nft (add|delete|-f)|iptables -[ADNFX])\b/);
    }
  });
  test("every apply first guards each object it claims; kinds that claim nothing have no guard", () => {
    for (const backend of ["nftables", "iptables"] as const) {
      for (const r of planResources(stackPlan("home", backend))) {
        const claims = kindOf(r.kind).owns(r.entry as never);
        const apply = renderScripts(r.kind, r.entry as never).apply;
        const guard = guardSteps(claims);
        if (claims.length === 0) assert.doesNotMatch(apply, /mw_(table|rule|nft|chain)_ours /, r.key);
        else
          assert.ok(
            apply.indexOf(guard.join("\n")) < apply.indexOf('step "record how to undo this'),
            `${r.key}: the guard comes before the record`,
          );
      }
    }
    assert.ok(KINDS.every((k) => typeof kindOf(k).owns === "function"));
  });
  test("our records name each table and chain the way mw_recorded looks for it, and never a longer name", () => {
    // The patterns of mw_nft_foreign and mw_chain_foreign (the prelude), as grep -E reads them, per line.
    assert.match(PRELUDE, /mw_nft_foreign\(\) \{ .*mw_recorded "table ip \$1\( \|\\\$\)"; \}/);
    assert.match(PRELUDE, /mw_chain_foreign\(\) \{ .*mw_recorded "-t \$1 -S \$2\( \|\\\$\)"; \}/);
    const nftPattern = (name: string) => new RegExp(`table ip ${name}( |$)`, "m");
    const chainPattern = (table: string, chain: string) => new RegExp(`-t ${table} -S ${chain}( |$)`, "m");
    for (const backend of ["nftables", "iptables"] as const) {
      for (const r of planResources(stackPlan("home", backend))) {
        const sourced = renderSourced(r.kind, r.entry as never);
        for (const c of kindOf(r.kind).owns(r.entry as never)) {
          if (c.object !== "nft" && c.object !== "chain") continue;
          const pattern = c.object === "nft" ? nftPattern(c.name) : chainPattern(c.table, c.chain);
          for (const [which, script] of [
            ["undo record", sourced.remove],
            ["boot copy", sourced.apply],
          ])
            assert.ok(pattern.test(script), `${r.key}'s ${which} names ${JSON.stringify(c)}`);
          // A record of "<name>-x" (an uplink named isp1-x) does not prove "<name>".
          assert.ok(
            !pattern.test(sourced.remove.replaceAll(c.object === "nft" ? c.name : c.chain, `${c.object === "nft" ? c.name : c.chain}-x`)),
            r.key,
          );
        }
      }
    }
  });
});

describe("the owned objects in the provider's configuration", () => {
  test("one line of text that reads back as the plan's objects, for both backends and the office's three uplinks", () => {
    for (const [stack, backend] of [
      ["home", "nftables"],
      ["home", "iptables"],
      ["office", "nftables"],
    ] as const) {
      const owned = stackPlan(stack, backend).preflight.owned;
      const text = formatOwned(owned);
      assert.ok(!text.includes("\n"), "one line");
      assert.deepEqual(parseOwned(text), owned, `${stack}/${backend}`);
      assert.deepEqual(preflightSchema.parse({ ...stackPlan(stack, backend).preflight, owned: text }).owned, owned);
    }
    assert.match(
      formatOwned(stackPlan("home").preflight.owned),
      /^table 101 proto 77 \[isp1's routing table \| uplinks\[0\]\.table or routing\.tableBase\]; table 102 /,
    );
  });
  test("text that does not read is refused at its field, and none is the empty list", () => {
    const base = stackPlan("home").preflight;
    const bad = preflightSchema.safeParse({ ...base, owned: "table 101 [no protocol | uplinks[0].table]" });
    assert.equal(bad.success, false);
    assert.deepEqual(
      bad.error?.issues.map((i) => i.path.join(".")),
      ["owned"],
    );
    assert.deepEqual(preflightSchema.parse({ ...base, owned: "" }).owned, []);
    const { owned: _o, ...legacy } = base;
    assert.deepEqual(preflightSchema.parse(legacy).owned, [], "a preflight of before (a legacy resource's) owns nothing to check");
  });
});
