// lib/render: every resource kind's scripts, compared exactly with the
// fixtures in test/fixtures/render/<kind>/<case>/ (regenerate after an
// intended change: npx tsc -b && node dist/test/fixtures/render/regenerate.js,
// then review `git diff test/fixtures/render`). Plus what a fixture cannot
// show: every apply compares before it changes, every remove touches only
// what carries our mark, and every script is valid sh.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import type { Plan } from "../../lib/plan";
import {
  PRELUDE,
  bootCopyOf,
  expectedState,
  kindOf,
  renderScripts,
  renderSourced,
  sh,
  undoCopyOf,
  type ResourceKind,
} from "../../lib/render";
import { guardSteps } from "../../lib/ownership";
import { sysctlPath } from "../../lib/kinds/gatewayHost";
import { inlinePrelude } from "../../lib/render/shell";
import { validateSite } from "../../lib/validate";
import { KINDS, customSite, invalidFixtures, renderFixtures } from "../fixtures/render/regenerate";
import {
  RENDER_FIXTURES,
  caseDirs,
  jsonFiles,
  readJson,
  readRenderFixture,
  renderAll,
  stackPlan,
  validSite,
  type InvalidFixture,
} from "../support/fixtures";
import { planSite } from "../../lib/plan";
import { planResources } from "../../lib/resources";
import { requireTool } from "../support/tools";

const REGENERATE = "npx tsc -b && node dist/test/fixtures/render/regenerate.js (then review git diff test/fixtures/render)";

/**
 * The script after the shared prelude: what this resource itself does. An
 * apply ends with its boot copy, a verbatim copy of everything before it
 * (tested on its own below), so the copy is left out here.
 */
function body(script: string): string {
  const at = script.indexOf(PRELUDE);
  assert.ok(at >= 0, "every script carries the shared prelude");
  const copy = script.indexOf('\nstep "keep this script for boot as ');
  // GatewayHost installs the prelude as lib.sh: that copy is the prelude, tested
  // on its own; the undo record an apply writes first is its remove script.
  return script
    .slice(at + PRELUDE.length, copy < 0 ? undefined : copy)
    .replace(/<<'MULTIWAN_LIB'\n[\s\S]*?\nMULTIWAN_LIB\n/, "<<'MULTIWAN_LIB'\n")
    .replace(/\nstep "record how to undo this in \S+"\n[\s\S]*?\nMULTIWAN_UNDO_COPY\n/, "\n");
}
const lines = (text: string) => text.split("\n");

/** Every plan the tests render: both stacks, both backends, and the custom site of the fixtures. */
const PLANS: [string, Plan][] = [
  ["home/nftables", stackPlan("home", "nftables")],
  ["home/iptables", stackPlan("home", "iptables")],
  ["office/nftables", stackPlan("office", "nftables")],
  ["office/iptables", stackPlan("office", "iptables")],
  ["custom/iptables", planSite(validSite(customSite()))],
];
const ALL = PLANS.flatMap(([name, plan]) => renderAll(plan).map((r) => ({ ...r, name: `${name} ${r.resource.kind} ${r.resource.key}` })));
const ofKind = <K extends ResourceKind>(kind: K) => ALL.filter((r) => r.resource.kind === kind);

describe("render fixtures: renderSourced(kind, entry) is exactly the fixture", () => {
  for (const kind of KINDS) {
    const dirs = caseDirs(path.join(RENDER_FIXTURES, kind));
    test(`${kind} has fixtures`, () => assert.ok(dirs.length > 0, `no fixtures for ${kind}; run ${REGENERATE}`));
    for (const dir of dirs) {
      test(`${kind}/${path.basename(dir)}`, () => {
        const fixture = readRenderFixture(dir);
        const scripts = renderSourced(kind, fixture.entry as never);
        for (const part of ["apply", "remove", "read"] as const) {
          assert.equal(
            scripts[part],
            fixture[part],
            `${part} script differs from ${path.relative(process.cwd(), dir)}/${part}.sh; if intended: ${REGENERATE}`,
          );
        }
        assert.deepEqual(
          expectedState(kind, fixture.entry as never),
          fixture.expected,
          `expected state differs; if intended: ${REGENERATE}`,
        );
      });
    }
  }

  test("Masquerade and Forward have fixtures for both NAT backends", () => {
    for (const kind of ["Masquerade", "Forward"]) {
      const names = caseDirs(path.join(RENDER_FIXTURES, kind)).map((f) => path.basename(f));
      assert.ok(
        names.some((n) => n.endsWith("-nftables")),
        `${kind}: nftables`,
      );
      assert.ok(
        names.some((n) => n.endsWith("-iptables")),
        `${kind}: iptables`,
      );
    }
  });

  test("the fixture set is what the regenerate script makes from today's planner (same cases, same entries)", () => {
    const fresh = renderFixtures();
    const onDisk = KINDS.flatMap((kind) => caseDirs(path.join(RENDER_FIXTURES, kind)).map((d) => path.join(kind, path.basename(d))));
    assert.deepEqual(onDisk.sort(), [...fresh.keys()].sort(), `fixture folders are stale; ${REGENERATE}`);
    for (const [dir, fixture] of fresh) {
      assert.deepEqual(
        readRenderFixture(path.join(RENDER_FIXTURES, dir)).entry,
        fixture.entry,
        `${dir}: the planner now makes another entry; ${REGENERATE}`,
      );
    }
  });

  test("what the provider sends is the kept script with the prelude inlined", () => {
    for (const r of ALL) {
      const sourced = renderSourced(r.resource.kind, r.resource.entry as never);
      assert.ok(sourced.apply.includes("\n. /etc/multiwan/lib.sh\n"), r.name);
      assert.ok(r.remove === inlinePrelude(sourced.remove) && r.read === inlinePrelude(sourced.read), r.name);
      assert.ok(r.apply.includes(inlinePrelude(sourced.apply).split(PRELUDE)[1].trimEnd()), `${r.name}: the kept steps are the steps sent`);
      assert.ok(!r.read.includes(". /etc/multiwan/lib.sh"), "sent scripts never depend on the box's lib.sh");
    }
  });
});

describe("invalid input -> the error (test/fixtures/render/invalid)", () => {
  const files = jsonFiles(path.join(RENDER_FIXTURES, "invalid"));
  test("there are invalid-input fixtures", () => assert.ok(files.length >= 8));
  for (const file of files) {
    test(path.basename(file, ".json"), () => {
      const fixture = readJson<InvalidFixture>(file);
      const result = validateSite(fixture.site);
      assert.equal(result.ok, false, "the site must be refused, so nothing is rendered");
      assert.deepEqual((result as { problems: string[] }).problems, fixture.problems);
    });
  }
  test("the invalid fixtures' sites are the regenerate script's cases", () => {
    const fresh = invalidFixtures();
    assert.deepEqual(files.map((f) => path.join("invalid", path.basename(f))).sort(), [...fresh.keys()].sort());
    for (const [file, fixture] of fresh)
      assert.deepEqual(readJson<InvalidFixture>(path.join(RENDER_FIXTURES, file)).site, fixture.site, file);
  });
});

// ---- apply converges: it compares before it changes ---------------------

describe("the prelude's helpers compare before they change", () => {
  test("mw_rule returns at once when the rule at that priority is already the wanted one", () => {
    const fn = PRELUDE.slice(PRELUDE.indexOf("mw_rule() {"));
    const first = lines(fn).slice(1, 4).join("\n");
    assert.match(first, /mw_want="\$1: \$2 proto \$3"\n\s+\[ "\$\(mw_rules "\$1"\)" = "\$mw_want" \] && return 0/);
    assert.ok(fn.indexOf("&& return 0") < fn.indexOf("ip rule add"), "compare comes before add");
    assert.match(fn, /die "priority \$1 holds a rule multiwan did not add/, "never deletes a rule that is not ours");
  });
  test("write_file leaves an identical file alone and replaces a changed one atomically", () => {
    assert.match(PRELUDE, /if \[ -f "\$1" \] && \[ "\$\(cat "\$1"\)" = "\$mw_content" \]; then return 0; fi/);
    assert.match(PRELUDE, />"\$1\.multiwan-tmp" && mv "\$1\.multiwan-tmp" "\$1"/);
  });
  test("ip_batch does nothing for an empty batch", () => {
    assert.match(PRELUDE, /\[ -n "\$mw_batch" \] \|\| return 0/);
  });
  test("the prelude is strict and names the failing step", () => {
    assert.ok(PRELUDE.startsWith("set -eu\nexport LC_ALL=C\n"));
    assert.match(PRELUDE, /die\(\) \{ printf 'multiwan: step "%s" failed: %s\\n' "\$MW_STEP"/);
  });
});

describe("apply: already present -> no change (structurally)", () => {
  test("no apply adds blindly: no `ip route add/append`, no bare `ip rule add`, no `nft add`, no unguarded `iptables -A/-I`", () => {
    for (const r of ALL) {
      for (const line of lines(body(r.apply))) {
        assert.doesNotMatch(line, /\bip route (add|append|prepend)\b|^route (add|append)\b/, `${r.name}: ${line}`);
        assert.doesNotMatch(line, /\bip rule add\b/, `${r.name}: ${line}`);
        assert.doesNotMatch(line, /\bnft (add|insert|create)\b/, `${r.name}: ${line}`);
        if (/\biptables -t \S+ -[AI] /.test(line))
          assert.match(
            line,
            /^iptables -t (\S+) -C (\S+) -j (\S+) 2>\/dev\/null \|\| run iptables -t \1 -A \2 -j \3$/,
            `${r.name}: ${line}`,
          );
      }
    }
  });

  test("GatewayHost: every sysctl goes through mw_sysctl, which writes only a differing value; table names through write_file", () => {
    for (const r of ofKind("GatewayHost")) {
      const entry = r.resource.entry as Plan["host"];
      const b = body(r.apply);
      assert.match(b, /\[ "\$\(cat "\$2"\)" = "\$3" \] \|\| \{ printf '\+ sysctl -w %s=%s\\n' "\$1" "\$3" >&2; echo "\$3" >"\$2"; \}/);
      assert.match(b, /\[ -e "\$mw_saved" \] \|\| cat "\$2" >"\$mw_saved"/, "the original is saved once, never overwritten");
      for (const [name, value] of Object.entries(entry.sysctls))
        assert.ok(lines(b).includes(`mw_sysctl ${sh(name)} ${sh(sysctlPath(name))} ${sh(value)}`), `${r.name}: ${name}`);
      const writesToProc = lines(b).filter((l) => /\/proc\//.test(l) && />/.test(l));
      assert.deepEqual(writesToProc, [], "no direct writes to /proc outside mw_sysctl");
      assert.ok(
        b.includes(
          `write_file /etc/iproute2/rt_tables.d/multiwan.conf <<'EOF'\n# managed by multiwan; removed by pulumi destroy\n${entry.tableNames.join("\n")}\nEOF`,
        ),
      );
    }
  });

  test("RoutingTable: routes are set with `route replace` in one ip batch; only unplanned routes of ours are deleted", () => {
    for (const r of ofKind("RoutingTable")) {
      const e = r.resource.entry as Plan["tables"][number];
      const b = body(r.apply);
      const batch = /ip_batch <<'EOF'\n([\s\S]*?)\nEOF/.exec(b);
      assert.ok(batch, r.name);
      const commands = lines(batch[1]);
      assert.equal(commands.length, e.routes.length);
      for (const c of commands) assert.match(c, new RegExp(`^route replace \\S+ .* table ${e.table} proto ${e.protocol}$`), r.name);
      const prune =
        /mw_routes (\d+) (\d+) \| while read -r dst _; do\n {2}case "\$dst" in ([^)]*)\) ;; \*\) run ip route del "\$dst" table (\d+) proto (\d+) ;; esac\ndone/.exec(
          b,
        );
      assert.ok(prune, `${r.name}: the prune loop keeps planned destinations`);
      assert.deepEqual(prune.slice(1, 3).concat(prune.slice(4, 6)), [
        String(e.table),
        String(e.protocol),
        String(e.table),
        String(e.protocol),
      ]);
      assert.deepEqual(
        prune[3].split("|"),
        e.routes.map((x) => x.split(" ")[0]),
        "every planned destination is spared",
      );
    }
  });

  test("PolicyRule: the rule is converged by mw_rule (compare, then change)", () => {
    for (const r of ofKind("PolicyRule")) {
      const e = r.resource.entry as Plan["rules"][number];
      const ipLines = lines(body(r.apply)).filter((l) => !l.startsWith("step ") && l.trim() !== "");
      // First the ownership guard (a foreign rule at the priority stops the apply), then the rule itself.
      assert.deepEqual(
        ipLines,
        [`mw_rule_ours ${e.priority} ${e.protocol}`, `mw_rule ${e.priority} 'from ${e.from} lookup ${e.table}' ${e.protocol}`],
        r.name,
      );
    }
  });

  test("MultipathDefaultRoute: `route replace` only when the live default differs; both rules by mw_rule", () => {
    for (const r of ofKind("MultipathDefaultRoute")) {
      const e = r.resource.entry as Plan["multipath"];
      const b = body(r.apply);
      const hop = (n: (typeof e.nexthops)[number]) => `nexthop via ${n.via} dev ${n.dev} weight ${n.weight}`;
      const want = `default ${e.nexthops.map(hop).join(" ")}`;
      // mw_multipath (the prelude) compares with the live default before it replaces it.
      for (const n of e.nexthops) assert.ok(lines(b).includes(`mw_down ${n.uplink} || mw_hops="$mw_hops ${hop(n)}"`), r.name);
      assert.ok(lines(b).includes(`[ -n "$mw_hops" ] || mw_hops=${sh(e.nexthops.map(hop).join(" "))}`), r.name);
      assert.ok(lines(b).includes(`mw_multipath ${e.table} ${e.protocol} "$mw_hops"`), r.name);
      assert.match(
        PRELUDE,
        /\[ "\$\(mw_routes "\$mw_t" "\$mw_p" \| grep '\^default ' \|\| true\)" != "\$mw_want" \] \|\| return 0\n {2}run ip route replace/,
      );
      assert.ok(expectedState("MultipathDefaultRoute", e).includes(`route ${want}`), "the guard compares with the expected state");
      assert.ok(lines(b).includes(`mw_rule ${e.mainPriority} 'from all lookup 254 suppress_prefixlength 0' ${e.protocol}`));
      assert.ok(lines(b).includes(`mw_rule ${e.multipathPriority} 'from all lookup ${e.table}' ${e.protocol}`));
    }
  });

  test("PinnedRoutes: `route replace` per destination; unpinning spares every planned destination", () => {
    for (const r of ofKind("PinnedRoutes")) {
      const e = r.resource.entry as Plan["pinned"][number];
      const b = body(r.apply);
      for (const d of e.destinations)
        assert.ok(
          lines(b).includes(`route replace ${d} via ${e.via} dev ${e.dev} table ${e.table} proto ${e.protocol}`),
          `${r.name}: ${d}`,
        );
      // The planned destinations, one a line, on fd 3: no argument holds the list (Linux caps one at 128 kB).
      assert.ok(b.includes(`grep -vxF -f /dev/fd/3 3<<'EOF' |\n${e.destinations.join("\n")}\nEOF\n`), r.name);
    }
  });

  test("nftables: `nft list table` is compared with the wanted table before `nft -f` replaces it", () => {
    const nft = ALL.filter(
      (r) =>
        ["Masquerade", "Forward", "ConnectionMark", "PortForwards"].includes(r.resource.kind) &&
        (r.resource.entry as { backend: string }).backend === "nftables",
    );
    assert.ok(nft.length >= 4);
    for (const r of nft) {
      const b = body(r.apply);
      const m =
        /mw_table=\$\(cat <<'EOF'\n([\s\S]*?)\nEOF\n\)\nif \[ "\$\(nft list table ip (\S+) 2>\/dev\/null\)" != "\$mw_table" \]; then\n[^\n]*\n {2}printf 'table ip %s\\ndelete table ip %s\\n%s\\n' \2 \2 "\$mw_table" \| nft -f - \|\| die "nft rejected table \2"\nfi/.exec(
          b,
        );
      assert.ok(m, `${r.name}: compare-then-replace shape`);
      assert.ok(m[1].startsWith(`table ip ${m[2]} {`), "the table compared and loaded is the one named");
      const expected = expectedState(r.resource.kind, r.resource.entry as never);
      const rules = lines(m[1]).filter((l) => l.startsWith("\t\t") && !l.includes(" hook "));
      assert.ok(rules.length > 0, r.name);
      for (const rule of rules)
        assert.ok(
          expected.some((l) => l.startsWith("nft rule ") && l.endsWith(`: ${rule.trim()}`)),
          `${r.name}: read's expected state has ${rule.trim()}`,
        );
    }
  });

  test("iptables: `iptables -S` is compared with the wanted chain before iptables-restore; the jump is added only if missing", () => {
    const ipt = ALL.filter(
      (r) =>
        (r.resource.kind === "Masquerade" || r.resource.kind === "Forward") &&
        (r.resource.entry as { backend: string }).backend === "iptables",
    );
    assert.ok(ipt.length >= 2);
    for (const r of ipt) {
      const b = body(r.apply);
      const m =
        /\[ "\$\(iptables -t (nat|filter) -S (MW-\S+) 2>\/dev\/null\)" = '([^']*)' \] \|\| \{\n[^\n]*\n {2}iptables-restore --noflush <<'EOF' \|\| die[^\n]*\n\*\1\n:\2 - \[0:0\]\n([\s\S]*?)\nCOMMIT\nEOF\n\}\niptables -t \1 -C (POSTROUTING|FORWARD) -j \2 2>\/dev\/null \|\| run iptables -t \1 -A \5 -j \2/.exec(
          b,
        );
      assert.ok(m, `${r.name}: compare-then-restore shape`);
      assert.equal(m[3], `-N ${m[2]}\n${m[4]}`, "the chain compared is the chain restored");
    }
  });
});

describe("remove: idempotent, and only what carries our mark", () => {
  test("ip deletions name our protocol; nft/iptables deletions name our own table or chain; all are guarded", () => {
    for (const r of ALL) {
      for (const line of lines(body(r.remove))) {
        if (/\bip (route|rule) (del|flush)\b|^ {2}sed 's\/\^\/route del/.test(line))
          assert.match(line, /\bproto(col)? \d+\b|proto "\$\d"|protocol "\$\d"/, `${r.name}: ${line}`);
        if (/\bnft delete table ip multiwan-/.test(line))
          assert.match(
            line,
            /^elif nft list table ip (multiwan-\S+) >\/dev\/null 2>&1; then run nft delete table ip \1; fi$/,
            `${r.name}: ${line}`,
          );
        if (/iptables -t \S+ -[DFX] /.test(line)) assert.match(line, /(while|if) iptables -t \S+ -[CS] /, `${r.name}: ${line}`);
      }
      // A table or chain of our name that no record of ours names is someone else's: removal keeps it (issue 15).
      const b = body(r.remove);
      for (const [, name] of b.matchAll(/run nft delete table ip (multiwan-\S+);/g))
        assert.ok(
          lines(b).includes(
            `if mw_nft_foreign ${name}; then printf 'multiwan: kept nft table ip %s: not ours (no record of ours names it)\\n' ${name} >&2`,
          ),
          `${r.name}: ${name}`,
        );
      for (const [, table, chain] of b.matchAll(/run iptables -t (\S+) -X (\S+);/g))
        assert.match(
          b,
          new RegExp(`^if mw_chain_foreign ${table} ${chain}; then printf 'multiwan: kept iptables chain`, "m"),
          `${r.name}: ${chain}`,
        );
      for (const line of lines(b)) {
        if (/\brun rm\b/.test(line)) assert.match(line, /^\[ ! -[eL] (\S+) \] \|\| run rm -f \1$/, `${r.name}: ${line}`);
      }
    }
  });

  test("an nft table that is not ours (iptables-nft's ip nat/filter) is deleted only if we created it and it is empty again", () => {
    for (const r of ALL) {
      const ls = lines(body(r.remove));
      ls.forEach((line, i) => {
        if (!/\bnft delete table ip (?!multiwan-)/.test(line)) return;
        const context = ls.slice(Math.max(0, i - 3), i + 1).join("\n");
        assert.match(context, /\/etc\/multiwan\/created-iptables-/, `${r.name}: only a table we created: ${line}`);
        assert.match(
          context,
          /\[ -z "\$\(iptables -t \S+ -S \| grep -v '\^-P \[A-Z\]\* ACCEPT\$'\)" \]/,
          `${r.name}: only when empty: ${line}`,
        );
      });
    }
  });

  test("RoutingTable remove flushes only our protocol in that table, and only when something is there", () => {
    for (const r of ofKind("RoutingTable")) {
      const e = r.resource.entry as Plan["tables"][number];
      assert.ok(
        lines(body(r.remove)).includes(
          `[ -z "$(mw_routes ${e.table} ${e.protocol})" ] || run ip route flush table ${e.table} proto ${e.protocol}`,
        ),
        r.name,
      );
    }
  });

  test("rules are removed with mw_unrule (loops until none of ours is left, fine when none is)", () => {
    assert.match(PRELUDE, /mw_unrule\(\) \{ while ip rule del pref "\$1" protocol "\$2" 2>\/dev\/null; do/);
    for (const r of [...ofKind("PolicyRule"), ...ofKind("MultipathDefaultRoute")])
      assert.match(body(r.remove), /^mw_unrule \d+ \d+$/m, r.name);
  });
});

describe("read and expected state", () => {
  test("read scripts change nothing", () => {
    for (const r of ALL) {
      for (const line of lines(body(r.read)).map((l) => l.replace(/'[^']*'/g, "''"))) {
        assert.doesNotMatch(
          line,
          /\b(replace|add|del|flush|delete|restore|rm|mv|mkdir|write_file|mw_rule|mw_unrule|mw_sysctl|ip_batch)\b|-[ADIFXN] [A-Z]|(^|[^2&])>[^&]/,
          `${r.name}: ${line}`,
        );
      }
    }
  });

  test("expected state is sorted and unique", () => {
    for (const r of ALL) {
      const expected = expectedState(r.resource.kind, r.resource.entry as never);
      assert.deepEqual(expected, [...new Set(expected)].sort(), r.name);
      assert.ok(expected.length > 0, r.name);
    }
  });
});

describe("every rendered script is valid shell", () => {
  const scripts = ALL.flatMap((r) => (["apply", "remove", "read"] as const).map((part) => ({ name: `${r.name} ${part}`, text: r[part] })));

  for (const shell of ["sh", "bash"]) {
    test(`${shell} -n accepts all ${scripts.length} scripts (both stacks, both NAT backends, the custom site)`, (t) => {
      if (!requireTool(t, shell, shell === "sh" ? "dash" : shell)) return;
      const bad: string[] = [];
      for (const s of scripts) {
        const out = spawnSync(shell, ["-n"], { input: s.text, encoding: "utf8" });
        if (out.status !== 0) bad.push(`${s.name}: ${out.stderr.trim()}`);
      }
      assert.deepEqual(bad, []);
    });
  }

  test("shellcheck finds nothing (warnings and errors)", (t) => {
    if (!requireTool(t, "shellcheck", "shellcheck")) return;
    const bad: string[] = [];
    for (const s of scripts) {
      const out = spawnSync("shellcheck", ["-s", "sh", "-S", "warning", "-"], { input: s.text, encoding: "utf8" });
      if (out.status !== 0) bad.push(`${s.name}:\n${out.stdout}`);
    }
    assert.deepEqual(bad, []);
  });

  test("every script starts with #!/bin/sh and a title naming the resource and the action", () => {
    for (const s of scripts) {
      const [shebang, title] = lines(s.text);
      assert.equal(shebang, "#!/bin/sh");
      assert.match(title, /^# multiwan: .+: (apply|remove|read)$/, s.name);
      assert.ok(s.text.endsWith("\n"), s.name);
    }
  });
});

// ---- regressions: lib bugs found while writing these tests ----

describe("regressions of fixed lib bugs", () => {
  test("Forward with one uplink: the nft table compared is the one `nft list` prints", () => {
    const entry = { lanInterface: "eth0", uplinkInterfaces: ["eth1"], backend: "nftables" as const };
    const apply = renderScripts("Forward", entry).apply;
    // nft 1.0.6 loads `oifname { "eth1" }` and lists it back as `oifname "eth1"`.
    assert.ok(apply.includes(`\t\tiifname "eth0" oifname "eth1" accept`), "a one-element set is written the way nft lists it");
    assert.ok(expectedState("Forward", entry).includes(`nft rule forward: iifname "eth0" oifname "eth1" accept`));
  });
});

describe("boot copies: every apply keeps itself for the boot runner", () => {
  test("apply = the host script + a copy of exactly that script; remove forgets the copy first; read reports it", () => {
    for (const r of ALL) {
      const { kind, entry } = r.resource;
      const kept = renderSourced(kind, entry as never);
      const copy = bootCopyOf(kind, entry as never);
      const undo = undoCopyOf(kind, entry as never);
      const [header, steps] = kept.apply.split("\n. /etc/multiwan/lib.sh\n");
      // The ownership guard comes first, before the record that would make a table or chain of our name look ours.
      const guard = guardSteps(kindOf(kind).owns(entry as never));
      const guardText = guard.length ? `\n${guard.join("\n")}\n` : "";
      assert.ok(steps.startsWith(guardText), `${r.name}: the boot copy starts with its guard`);
      const rest = steps.slice(guardText.length);
      assert.equal(
        r.apply,
        [
          header,
          PRELUDE,
          ...(guard.length ? ["", ...guard] : []),
          "",
          // Recorded before anything changes: the box can always undo what it carries.
          `step "record how to undo this in ${undo}"`,
          `run mkdir -p /etc/multiwan/remove.d`,
          `write_file ${undo} <<'MULTIWAN_UNDO_COPY'`,
          kept.remove.trimEnd(),
          "MULTIWAN_UNDO_COPY",
          rest.trimEnd(),
          "",
          `step "keep this script for boot as ${copy}"`,
          `run mkdir -p /etc/multiwan/apply.d`,
          `write_file ${copy} <<'MULTIWAN_BOOT_COPY'`,
          kept.apply.trimEnd(),
          "MULTIWAN_BOOT_COPY",
          "",
        ].join("\n"),
        r.name,
      );
      assert.ok(!kept.apply.includes("\nMULTIWAN_BOOT_COPY\n"), "the copy's delimiter cannot occur inside it");
      const afterPrelude = body(r.remove).split("\n").filter(Boolean);
      assert.deepEqual(afterPrelude.slice(0, 2), [`step "forget the boot copy ${copy}"`, `[ ! -e ${copy} ] || run rm -f ${copy}`], r.name);
      assert.ok(r.read.includes(`fact boot-copy ls ${copy}`), r.name);
      assert.ok(expectedState(kind, entry as never).includes(`boot copy ${copy}`), r.name);
    }
  });

  test("copies sort in dependency order and never share a name", () => {
    for (const site of ["home", "office"] as const) {
      const resources = planResources(stackPlan(site));
      const paths = resources.map((r) => bootCopyOf(r.kind, r.entry as never));
      assert.equal(new Set(paths).size, paths.length, `${site}: unique`);
      const position = new Map(resources.map((r, i) => [r.key, paths[i]]));
      for (const r of resources) {
        for (const dep of r.dependsOn) assert.ok(position.get(dep)! < position.get(r.key)!, `${site}: ${dep} runs before ${r.key}`);
      }
    }
  });
});
