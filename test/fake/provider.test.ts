// The multiwan provider against a fake SSH host (ssh2's Server in this
// process): MultiwanProvider's methods are called directly, the way the
// engine calls them, with the inputs MultiWanGateway builds for the home site.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { generateKeyPair } from "../support/keys";
import { expectedState, renderScripts } from "../../lib/render";
import { PartialCreateError, UNKNOWN_KERNEL_STATE } from "../../provider/lifecycle";
import { MultiwanProvider } from "../../provider/provider";
import { isSecret, SECRET_SIG, SECRET_SIG_KEY } from "../../provider/secrets";
import { SshPool } from "../../provider/ssh";
import { REPO_ROOT } from "../support/cli";
import { type FakeHost, type FakeReply, startFakeHost } from "../support/fakeHost";
import { connectionInput, loadPlan, planned, resourceCases, resourceInputs, urnOf, wrapSecret } from "../support/site";

// ---- secrets: one client key for the whole file, and everything that could leak it ----

const CLIENT = generateKeyPair("ed25519", { comment: "provider-test-client" });
const SECRET_KEY = CLIENT.private;
/** Everything a person or the state could see: error messages, warnings, stderr, outputs. */
const exposed: string[] = [];
const stderrWrites: string[] = [];
const originalStderrWrite = process.stderr.write.bind(process.stderr);

before(() => {
  process.stderr.write = ((chunk: any, ...rest: any[]) => {
    stderrWrites.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    return (originalStderrWrite as any)(chunk, ...rest);
  }) as typeof process.stderr.write;
});
after(() => {
  process.stderr.write = originalStderrWrite;
});

/** Replaces every wrapped secret by a marker: what remains must not hold the key. */
function withoutSecrets(value: unknown): unknown {
  if (isSecret(value)) return "[secret]";
  if (Array.isArray(value)) return value.map(withoutSecrets);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutSecrets(v)]));
  return value;
}

function expose(value: unknown): void {
  exposed.push(typeof value === "string" ? value : JSON.stringify(withoutSecrets(value)));
}

/** Awaits a rejection and records its message as exposed. */
async function rejection(p: Promise<unknown>, what = "the call"): Promise<Error> {
  const err = await p.then(
    () => assert.fail(`${what} should have failed`),
    (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
  );
  expose(err.message);
  expose(String(err.stack ?? ""));
  return err;
}

// ---- the fake host and the provider ----

interface Ctx {
  fake: FakeHost;
  provider: MultiwanProvider;
  pool: SshPool;
  /** The `connection` input with the private key wrapped as a secret. */
  conn: Record<string, any>;
  warnings: string[];
}

type Responder = (script: string) => FakeReply;

/** A fresh fake host, pool and provider for one test; all closed afterwards. */
async function withProvider(respond: Responder, body: (ctx: Ctx) => Promise<void>): Promise<void> {
  const fake = await startFakeHost({ authorizedKey: CLIENT.public, respond });
  const warnings: string[] = [];
  const pool = new SshPool({ warn: (m) => warnings.push(m), connectTimeoutMs: 5000 });
  const provider = new MultiwanProvider(pool);
  try {
    await body({ fake, provider, pool, conn: connectionInput(fake.connection({ privateKey: SECRET_KEY })), warnings });
  } finally {
    await provider.pool.close();
    await fake.close();
    exposed.push(...warnings);
  }
}

const ok: Responder = () => ({ code: 0 });
const isPreflight = (script: string) => /^# multiwan: preflight/m.test(script);
const phaseOf = (script: string) => /^# multiwan: .*: (apply|remove|read)$/m.exec(script)?.[1];

const HOME = loadPlan("home");
const tableIsp1 = planned("home", "table-isp1");
const multipath = planned("home", "multipath");
const TABLE_URN = urnOf("home", "RoutingTable", "home-table-isp1");
const MULTIPATH_URN = urnOf("home", "MultipathDefaultRoute", "home-multipath");
const tableScripts = renderScripts("RoutingTable", tableIsp1.entry as any);

function tableInputs(conn: Record<string, unknown>): Record<string, any> {
  return resourceInputs(HOME, tableIsp1.entry, conn);
}
function multipathInputs(conn: Record<string, unknown>): Record<string, any> {
  return resourceInputs(HOME, multipath.entry, conn);
}

/** Independent of provider/hostKey.ts: sha256 of the base64 key field. */
function fingerprintOf(line: string): string {
  const b64 = line.trim().split(/\s+/)[1];
  return `SHA256:${createHash("sha256").update(Buffer.from(b64, "base64")).digest("base64").replace(/=+$/, "")}`;
}

// ---- check and diff: pure, never a connection ----

describe("check and diff (a preview) never contact the host", () => {
  let fake: FakeHost;
  let provider: MultiwanProvider;
  let conn: Record<string, any>;

  before(async () => {
    fake = await startFakeHost({ authorizedKey: CLIENT.public });
    provider = new MultiwanProvider(new SshPool({ warn: (m) => exposed.push(m) }));
    conn = connectionInput(fake.connection({ privateKey: SECRET_KEY }));
  });
  after(async () => {
    assert.equal(fake.connections, 0, "check and diff must not open a connection");
    assert.equal(provider.pool.stats().connectionsOpened, 0);
    await provider.pool.close();
    await fake.close();
  });

  test("a new resource's check keeps its inputs; an existing one's gains its kernelState", async () => {
    for (const site of ["home", "office"] as const) {
      for (const c of resourceCases(site, conn)) {
        const created = await provider.check(c.urn, undefined, c.inputs);
        assert.deepEqual(created.inputs, c.inputs, `${c.name}: a create shows its entry alone`);
        const r = await provider.check(c.urn, c.inputs, c.inputs);
        assert.deepEqual(r.failures ?? [], [], `${c.name}: ${JSON.stringify(r.failures)}`);
        const { kernelState, ...rest } = r.inputs;
        assert.deepEqual(rest, c.inputs, `${c.name}: check keeps the inputs as they are`);
        assert.deepEqual(kernelState, expectedState(c.kind, planned(site, c.key).entry as any));
        assert.ok(Array.isArray(kernelState) && kernelState.length > 0, `${c.name} owns some kernel state`);
        assert.ok(isSecret(r.inputs.connection.privateKey), "the private key stays wrapped");
        expose(r.inputs);
      }
    }
  });

  test("check of an unknown resource type fails clearly", async () => {
    await assert.rejects(
      provider.check("urn:pulumi:home::multiwan::multiwan:index:Nope::x", undefined, {}),
      /multiwan has no resource type "multiwan:index:Nope"/,
    );
  });

  const invalid: { what: string; urn: () => string; mutate: (i: Record<string, any>) => void; property: string; reason: RegExp }[] = [
    { what: "a bad gateway address", urn: () => TABLE_URN, mutate: (i) => (i.gateway = "192.168.1.300"), property: "gateway", reason: /./ },
    {
      what: "a bad route via",
      urn: () => TABLE_URN,
      mutate: (i) => (i.routes[1] = "default via not-an-address dev eth1"),
      property: "routes[1]",
      reason: /must be a route as ip takes it/,
    },
    { what: "an unknown field", urn: () => TABLE_URN, mutate: (i) => (i.colour = "blue"), property: "colour", reason: /unknown field/ },
    {
      what: "an unknown nested field",
      urn: () => MULTIPATH_URN,
      mutate: (i) => (i.nexthops[1].wieght = 1),
      property: "nexthops[1].wieght",
      reason: /unknown field/,
    },
    { what: "weight 0", urn: () => MULTIPATH_URN, mutate: (i) => (i.nexthops[0].weight = 0), property: "nexthops[0].weight", reason: /./ },
    {
      what: "weight 257",
      urn: () => MULTIPATH_URN,
      mutate: (i) => (i.nexthops[1].weight = 257),
      property: "nexthops[1].weight",
      reason: /./,
    },
    { what: "a reserved table id", urn: () => TABLE_URN, mutate: (i) => (i.table = 254), property: "table", reason: /reserved/ },
    {
      what: "no hostKey without insecureIgnoreHostKey",
      urn: () => TABLE_URN,
      mutate: (i) => delete i.connection.hostKey,
      property: "connection.hostKey",
      reason: /required/,
    },
    {
      what: "a port out of range",
      urn: () => TABLE_URN,
      mutate: (i) => (i.connection.port = 70000),
      property: "connection.port",
      reason: /./,
    },
    {
      what: "an unknown connection field",
      urn: () => TABLE_URN,
      mutate: (i) => (i.connection.password = "x"),
      property: "connection.password",
      reason: /unknown field/,
    },
    {
      what: "a bad preflight interface",
      urn: () => TABLE_URN,
      mutate: (i) => (i.preflight.interfaces[0].name = "eth 0"),
      property: "preflight.interfaces[0].name",
      reason: /./,
    },
  ];
  for (const c of invalid) {
    test(`check reports ${c.what} at ${c.property}`, async () => {
      const inputs = c.urn() === TABLE_URN ? tableInputs(conn) : multipathInputs(conn);
      c.mutate(inputs);
      const r = await provider.check(c.urn(), undefined, inputs);
      const failures = r.failures ?? [];
      expose(failures);
      const hit = failures.find((f) => f.property === c.property);
      assert.ok(hit, `expected a failure at ${c.property}, got ${JSON.stringify(failures)}`);
      assert.match(hit.reason, c.reason);
      assert.ok(
        failures.every((f) => f.property !== ""),
        `every failure names its field: ${JSON.stringify(failures)}`,
      );
      assert.equal(r.inputs.kernelState, undefined, "invalid inputs get no kernelState");
    });
  }

  test("insecureIgnoreHostKey without hostKey passes check", async () => {
    const inputs = tableInputs({ ...conn, hostKey: undefined, insecureIgnoreHostKey: true });
    delete inputs.connection.hostKey;
    const r = await provider.check(TABLE_URN, undefined, inputs);
    assert.deepEqual(r.failures ?? [], []);
  });

  /** Olds as the state holds them: the checked inputs plus the remove script. */
  async function stateOf(urn: string, inputs: Record<string, any>): Promise<Record<string, any>> {
    const r = await provider.check(urn, undefined, inputs);
    assert.deepEqual(r.failures ?? [], []);
    return { ...r.inputs, removeScript: "#!/bin/sh\n# the stored remove script\n", applied: "0123456789abcdef" };
  }
  async function checked(urn: string, inputs: Record<string, any>): Promise<Record<string, any>> {
    const r = await provider.check(urn, undefined, inputs);
    assert.deepEqual(r.failures ?? [], []);
    return r.inputs;
  }

  test("diff: identical inputs have no changes", async () => {
    for (const c of resourceCases("home", conn)) {
      const olds = await stateOf(c.urn, c.inputs);
      const r = await provider.diff(c.name, c.urn, olds, await checked(c.urn, structuredClone(c.inputs)));
      assert.equal(r.changes, false, c.name);
      assert.deepEqual(r.replaces ?? [], [], c.name);
    }
  });

  test("diff: state written before the guard (no applied token) is an update of the token alone", async () => {
    const { applied: _none, ...olds } = await stateOf(TABLE_URN, tableInputs(conn));
    const r = await provider.diff("table-101", TABLE_URN, olds, await checked(TABLE_URN, tableInputs(conn)));
    assert.equal(r.changes, true);
    assert.deepEqual(r.diffs, ["applied"]);
    assert.deepEqual(r.replaces ?? [], []);
  });

  test("diff: a changed weight updates the multipath route in place", async () => {
    const olds = await stateOf(MULTIPATH_URN, multipathInputs(conn));
    const news = multipathInputs(conn);
    news.nexthops[0].weight = 3;
    const r = await provider.diff("multipath-200", MULTIPATH_URN, olds, await checked(MULTIPATH_URN, news));
    assert.equal(r.changes, true);
    assert.deepEqual(r.replaces ?? [], []);
    assert.ok(!r.deleteBeforeReplace);
  });

  test("diff: a changed table id replaces the routing table, deleting first", async () => {
    const olds = await stateOf(TABLE_URN, tableInputs(conn));
    const news = tableInputs(conn);
    news.table = 111;
    const r = await provider.diff("table-101", TABLE_URN, olds, await checked(TABLE_URN, news));
    assert.equal(r.changes, true);
    assert.equal(r.replaces?.[0], "table", JSON.stringify(r.replaces));
    assert.ok(
      r.replaces!.every((k) => ["table", "interface"].includes(k)),
      JSON.stringify(r.replaces),
    );
    assert.equal(r.deleteBeforeReplace, true);
  });

  test("diff: a changed gateway updates the routing table in place", async () => {
    const olds = await stateOf(TABLE_URN, tableInputs(conn));
    const news = tableInputs(conn);
    news.gateway = "192.168.1.253";
    const r = await provider.diff("table-101", TABLE_URN, olds, await checked(TABLE_URN, news));
    assert.equal(r.changes, true);
    assert.deepEqual(r.replaces ?? [], []);
  });

  test("diff: a connection-only change (port, key, host key) never replaces", async () => {
    const olds = await stateOf(TABLE_URN, tableInputs(conn));
    const other = generateKeyPair("ed25519");
    const variants: Record<string, Record<string, unknown>> = {
      port: { ...conn, port: conn.port + 1 },
      privateKey: { ...conn, privateKey: wrapSecret(other.private) },
      hostKey: { ...conn, hostKey: other.public },
      user: { ...conn, user: "netadmin" },
    };
    for (const [what, c] of Object.entries(variants)) {
      const r = await provider.diff("table-101", TABLE_URN, olds, await checked(TABLE_URN, tableInputs(c)));
      assert.equal(r.changes, true, what);
      assert.deepEqual(r.replaces ?? [], [], what);
      assert.ok(!r.deleteBeforeReplace, what);
    }
  });

  test("diff: the same private key wrapped again is no change", async () => {
    const olds = await stateOf(TABLE_URN, tableInputs(conn));
    const rewrapped = { ...conn, privateKey: { [SECRET_SIG_KEY]: SECRET_SIG, value: String(SECRET_KEY) } };
    assert.notEqual(rewrapped.privateKey, conn.privateKey);
    const r = await provider.diff("table-101", TABLE_URN, olds, await checked(TABLE_URN, tableInputs(rewrapped)));
    assert.equal(r.changes, false);
    assert.deepEqual(r.replaces ?? [], []);
  });
});

// ---- create, update, delete, read over SSH ----

describe("create, update, delete and read over SSH", () => {
  test("create runs the preflight, then the apply script, and keeps the remove script and the wrapped secret", async () => {
    await withProvider(ok, async ({ fake, provider, conn, warnings }) => {
      const inputs = tableInputs(conn);
      const r = await provider.create(TABLE_URN, inputs);
      expose(r.outs);
      assert.equal(fake.scripts.length, 2);
      assert.ok(isPreflight(fake.scripts[0]), "the preflight runs first");
      assert.equal(fake.scripts[1], tableScripts.apply);
      // Every script runs under the default time limit (host.commandTimeoutSeconds).
      assert.deepEqual(fake.commands, ["timeout -k 5 120 sh -s", "timeout -k 5 120 sh -s"]);
      assert.equal(typeof r.id, "string");
      assert.ok(r.id.length > 0);
      assert.equal(r.outs.removeScript, tableScripts.remove);
      assert.deepEqual(r.outs.connection.privateKey, wrapSecret(SECRET_KEY), "the secret stays wrapped in the outputs");
      for (const [k, v] of Object.entries(inputs)) assert.deepEqual(r.outs[k], v, `outs.${k}`);
      assert.equal(fake.connections, 1);
      assert.deepEqual(warnings, []);

      // A second create in the same run reuses the passed preflight and the connection.
      const rule = planned("home", "rule-isp1");
      await provider.create(urnOf("home", "PolicyRule", "home-rule-isp1"), resourceInputs(HOME, rule.entry, conn));
      assert.equal(fake.scripts.filter(isPreflight).length, 1, "one preflight per run");
      assert.equal(fake.scripts[2], renderScripts("PolicyRule", rule.entry as any).apply);
      assert.equal(fake.connections, 1);
    });
  });

  test("a whole stack (create all concurrently, read all, delete all) uses one TCP connection and bounded channels", async () => {
    await withProvider(
      () => ({ code: 0, delayMs: 25 }),
      async ({ fake, provider, pool, conn }) => {
        const cases = resourceCases("home", conn);
        assert.ok(cases.length > 8, `the home plan has more resources (${cases.length}) than the session bound`);
        const created = await Promise.all(cases.map((c) => provider.create(c.urn, c.inputs)));
        for (const r of created) expose(r.outs);
        assert.equal(fake.scripts.filter(isPreflight).length, 1);
        assert.ok(isPreflight(fake.scripts[0]));
        const applies = fake.scripts.slice(1);
        assert.deepEqual(
          [...applies].sort(),
          cases.map((c) => renderScripts(c.kind, planned("home", c.key).entry as any).apply).sort(),
          "every resource's apply script, once",
        );

        const reads = await Promise.all(cases.map((c, i) => provider.read(created[i].id, c.urn, created[i].outs)));
        for (const r of reads) expose(r);
        await Promise.all(cases.map((c, i) => provider.delete(created[i].id, c.urn, created[i].outs)));

        assert.equal(fake.scripts.length, 1 + cases.length * 3);
        assert.equal(fake.scripts.filter((s) => phaseOf(s) === "read").length, cases.length);
        assert.deepEqual(fake.scripts.filter((s) => phaseOf(s) === "remove").sort(), created.map((r) => r.outs.removeScript).sort());
        assert.equal(fake.connections, 1, "one TCP connection for the whole stack");
        assert.equal(pool.stats().connectionsOpened, 1);
        assert.ok(fake.maxConcurrentChannels <= 8, `at most 8 channels at once, saw ${fake.maxConcurrentChannels}`);
        assert.ok(fake.maxConcurrentChannels > 1, `resources run concurrently, saw ${fake.maxConcurrentChannels}`);
      },
    );
  });

  test("a failed preflight stops the create with one report and applies nothing", async () => {
    const respond: Responder = (s) => (isPreflight(s) ? { code: 1, stdout: "interface eth2 does not exist\n", delayMs: 20 } : { code: 0 });
    await withProvider(respond, async ({ fake, provider, conn }) => {
      const rule = planned("home", "rule-isp2");
      const results = await Promise.allSettled([
        provider.create(TABLE_URN, tableInputs(conn)),
        provider.create(urnOf("home", "PolicyRule", "home-rule-isp2"), resourceInputs(HOME, rule.entry, conn)),
      ]);
      const messages = results.map((r) => {
        assert.equal(r.status, "rejected");
        const msg = String((r as PromiseRejectedResult).reason?.message);
        expose(msg);
        return msg;
      });
      const full = messages.filter((m) => /preflight/.test(m) && m.includes("eth2 does not exist") && m.includes("nothing was changed"));
      const short = messages.filter((m) => m.includes("reported once above"));
      assert.equal(full.length, 1, messages.join("\n---\n"));
      assert.equal(short.length, 1, messages.join("\n---\n"));
      assert.ok(!short[0].includes("eth2 does not exist"), "the other resources do not repeat the report");
      assert.equal(fake.scripts.length, 1, "only the preflight ran");
      assert.ok(isPreflight(fake.scripts[0]));

      // Later resources of the same run are not applied either.
      const err = await rejection(provider.create(MULTIPATH_URN, multipathInputs(conn)));
      assert.match(err.message, /preflight/);
      assert.equal(fake.scripts.length, 1, "the preflight is not repeated and nothing is applied");
    });
  });

  test("a failing apply names the step, the exit code and stderr, and is rolled back with the remove script", async () => {
    const respond: Responder = (s) =>
      s === tableScripts.apply ? { code: 2, stderr: "== routes of table 101 (isp1)\nRTNETLINK answers: File exists\n" } : { code: 0 };
    await withProvider(respond, async ({ fake, provider, conn }) => {
      const err = await rejection(provider.create(TABLE_URN, tableInputs(conn)), "create");
      assert.ok(err.message.includes("apply RoutingTable home-table-isp1"), err.message);
      assert.ok(err.message.includes("exit code 2"), err.message);
      assert.ok(err.message.includes("RTNETLINK answers: File exists"), err.message);
      assert.match(err.message, /rolled back/);
      assert.equal(fake.scripts.length, 3);
      assert.ok(isPreflight(fake.scripts[0]));
      assert.equal(fake.scripts[1], tableScripts.apply);
      assert.equal(fake.scripts[2], tableScripts.remove, "the partial create is removed");
    });
  });

  test("a failing rollback is reported too", async () => {
    const respond: Responder = (s) =>
      s === tableScripts.apply
        ? { code: 2, stderr: "RTNETLINK answers: File exists\n" }
        : s === tableScripts.remove
          ? { code: 1, stderr: "remove broke\n" }
          : { code: 0 };
    await withProvider(respond, async ({ provider, conn }) => {
      const err = await rejection(provider.create(TABLE_URN, tableInputs(conn)));
      assert.match(err.message, /RTNETLINK answers: File exists/);
      assert.match(err.message, /Rolling back also failed/);
      assert.match(err.message, /remove broke/);
    });
  });

  test("a failing update re-sends the old apply script as rollback", async () => {
    const oldApply = renderScripts("MultipathDefaultRoute", multipath.entry as any).apply;
    let newApply = "";
    const respond: Responder = (s) => (s === newApply ? { code: 2, stderr: "Error: Nexthop has invalid gateway.\n" } : { code: 0 });
    await withProvider(respond, async ({ fake, provider, conn }) => {
      const created = await provider.create(MULTIPATH_URN, multipathInputs(conn));
      const news = multipathInputs(conn);
      news.nexthops[0].weight = 5;
      newApply = renderScripts("MultipathDefaultRoute", news as any).apply;
      assert.notEqual(newApply, oldApply);
      const before = fake.scripts.length;
      const err = await rejection(provider.update(created.id, MULTIPATH_URN, created.outs, news), "update");
      assert.ok(err.message.includes("apply MultipathDefaultRoute home-multipath"), err.message);
      assert.ok(err.message.includes("exit code 2"), err.message);
      assert.ok(err.message.includes("Nexthop has invalid gateway"), err.message);
      assert.deepEqual(fake.scripts.slice(before), [newApply, oldApply], "the new apply, then the old apply as rollback");
    });
  });

  test("a successful update applies the new entry and stores its remove script", async () => {
    await withProvider(ok, async ({ fake, provider, conn }) => {
      const created = await provider.create(MULTIPATH_URN, multipathInputs(conn));
      const news = multipathInputs(conn);
      news.nexthops[1].weight = 4;
      const before = fake.scripts.length;
      const r = await provider.update(created.id, MULTIPATH_URN, created.outs, news);
      expose(r.outs);
      const scripts = renderScripts("MultipathDefaultRoute", news as any);
      assert.deepEqual(fake.scripts.slice(before), [scripts.apply]);
      assert.equal(r.outs?.removeScript, scripts.remove);
      assert.equal(r.outs?.nexthops[1].weight, 4);
      assert.ok(isSecret(r.outs?.connection.privateKey));
    });
  });

  test("an update of the connection alone sends no script", async () => {
    await withProvider(ok, async ({ fake, provider, conn }) => {
      const created = await provider.create(TABLE_URN, tableInputs(conn));
      const sent = fake.scripts.length;
      const other = generateKeyPair("ed25519");
      const newConn = { ...conn, port: conn.port + 1, privateKey: wrapSecret(other.private) };
      const r = await provider.update(created.id, TABLE_URN, created.outs, tableInputs(newConn));
      expose(withoutSecrets(r.outs));
      assert.equal(fake.scripts.length, sent, "nothing runs on the host");
      assert.equal(r.outs?.removeScript, created.outs.removeScript);
      assert.equal(r.outs?.connection.port, conn.port + 1, "the state learns the new connection");
      assert.deepEqual(r.outs?.connection.privateKey, wrapSecret(other.private));
    });
  });

  test("delete sends exactly the stored remove script", async () => {
    await withProvider(ok, async ({ fake, provider, conn }) => {
      const created = await provider.create(TABLE_URN, tableInputs(conn));
      const custom =
        "#!/bin/sh\n# multiwan: RoutingTable isp1 (table 101): remove\n# written by an older multiwan\nip route flush table 101 proto 77\n";
      assert.notEqual(custom, tableScripts.remove);
      const before = fake.scripts.length;
      await provider.delete(created.id, TABLE_URN, { ...created.outs, removeScript: custom });
      assert.deepEqual(fake.scripts.slice(before), [custom]);
    });
  });

  test("a failing delete names the step and the exit code", async () => {
    await withProvider(
      (s) => (phaseOf(s) === "remove" ? { code: 3, stderr: 'multiwan: step "x" failed: boom\n' } : { code: 0 }),
      async ({ provider, conn }) => {
        const created = await provider.create(TABLE_URN, tableInputs(conn));
        const err = await rejection(provider.delete(created.id, TABLE_URN, created.outs));
        assert.ok(err.message.includes("remove RoutingTable home-table-isp1"), err.message);
        assert.ok(err.message.includes("exit code 3"), err.message);
      },
    );
  });

  test("a script past host.commandTimeoutSeconds fails its resource naming the step and the limit", async () => {
    // `timeout` exits 124 when the limit is reached (it has stopped the script's process group).
    await withProvider(
      (s) => (phaseOf(s) === "remove" ? { code: 124, stderr: "== remove our routes from table 101\n" } : { code: 0 }),
      async ({ provider, conn }) => {
        const created = await provider.create(TABLE_URN, tableInputs(conn));
        const err = await rejection(provider.delete(created.id, TABLE_URN, created.outs));
        assert.match(
          err.message,
          /step "remove RoutingTable home-table-isp1" did not finish within 120 s \(host\.commandTimeoutSeconds\); its processes on the box were stopped/,
        );
      },
    );
  });

  test("read returns the live kernel state, parsed from ip's JSON and canonical, in props and inputs", async () => {
    // As iproute2 6.1 prints it: numeric scopes with -N.
    const live = [
      "@@ routes",
      '[{"dst":"default","gateway":"192.168.1.254","dev":"eth1","flags":[]},{"dst":"192.168.1.0/24","dev":"eth1","scope":"253","prefsrc":"192.168.1.1","flags":[]}]',
      "@@ boot-copy",
      "",
    ].join("\n");
    await withProvider(
      (s) => (phaseOf(s) === "read" ? { code: 0, stdout: live } : { code: 0 }),
      async ({ fake, provider, conn }) => {
        const created = await provider.create(TABLE_URN, tableInputs(conn));
        const before = fake.scripts.length;
        const r = await provider.read(created.id, TABLE_URN, created.outs);
        expose(r);
        assert.deepEqual(fake.scripts.slice(before), [tableScripts.read]);
        const canonical = ["route 192.168.1.0/24 dev eth1 scope link src 192.168.1.1", "route default via 192.168.1.254 dev eth1"];

        assert.equal(r.id, created.id);
        assert.deepEqual(r.props?.kernelState, canonical);
        assert.deepEqual(r.inputs?.kernelState, canonical);
        assert.ok(!("removeScript" in (r.inputs ?? {})), "inputs have no removeScript");
        assert.equal(r.props?.removeScript, created.outs.removeScript, "the state keeps the stored remove script");
        assert.ok(isSecret(r.props?.connection.privateKey));
        assert.ok(isSecret(r.inputs?.connection.privateKey));
        // The live state differs from the desired one: the next up shows a change.
        const checkedNews = (await provider.check(TABLE_URN, r.inputs, tableInputs(conn))).inputs;
        const d = await provider.diff(created.id, TABLE_URN, r.props, checkedNews);
        assert.equal(d.changes, true, "drift shows as a change");
        assert.deepEqual(d.replaces ?? [], []);
      },
    );
  });

  test("the pinned host key is accepted; a wrong one is refused with both SHA256 fingerprints", async () => {
    await withProvider(ok, async ({ fake, provider, conn }) => {
      const created = await provider.create(TABLE_URN, tableInputs(conn));
      assert.ok(created.id);
      await provider.pool.close();

      const wrong = generateKeyPair("ed25519").public;
      const sent = fake.scripts.length;
      const auth = fake.authentications;
      const err = await rejection(provider.read(created.id, TABLE_URN, { ...created.outs, connection: { ...conn, hostKey: wrong } }));
      const expected = fingerprintOf(wrong);
      const presented = fingerprintOf(fake.hostKeyLine);
      assert.notEqual(expected, presented);
      assert.ok(err.message.includes(expected), err.message);
      assert.ok(err.message.includes(presented), err.message);
      assert.equal(fake.scripts.length, sent, "nothing runs on an unverified host");
      assert.equal(fake.authentications, auth, "we never authenticate to an unverified host");
    });
  });

  test("insecureIgnoreHostKey connects and warns with the fingerprint, on the default stderr warning", async () => {
    const fake = await startFakeHost({ authorizedKey: CLIENT.public });
    const provider = new MultiwanProvider(); // the default pool: warnings go to stderr
    const before = stderrWrites.length;
    try {
      const conn = connectionInput(fake.connection({ privateKey: SECRET_KEY, hostKey: undefined, insecureIgnoreHostKey: true }));
      const r = await provider.create(TABLE_URN, tableInputs(conn));
      expose(r.outs);
      const written = stderrWrites.slice(before).join("");
      assert.match(written, /host key not verified/);
      assert.ok(written.includes(fingerprintOf(fake.hostKeyLine)), written);
    } finally {
      await provider.pool.close();
      await fake.close();
    }
  });

  test("a connection marked secret as a whole is checked, used and kept wrapped", async () => {
    await withProvider(ok, async ({ fake, provider, conn }) => {
      const plain = { ...conn, privateKey: SECRET_KEY };
      const inputs = tableInputs(wrapSecret(plain) as any);
      const checkedInputs = await provider.check(TABLE_URN, undefined, inputs);
      assert.deepEqual(checkedInputs.failures ?? [], []);
      const r = await provider.create(TABLE_URN, checkedInputs.inputs);
      expose(r.outs);
      assert.equal(fake.scripts[1], tableScripts.apply);
      assert.deepEqual(r.outs.connection, wrapSecret(plain), "the state keeps the connection wrapped");
      const d = await provider.diff(r.id, TABLE_URN, r.outs, (await provider.check(TABLE_URN, r.outs, tableInputs(conn))).inputs);
      assert.equal(d.changes, false, "the same connection, wrapped differently, is no change");
    });
  });

  test("a key the host does not accept fails authentication without quoting it", async () => {
    await withProvider(ok, async ({ fake, provider, conn }) => {
      const stranger = generateKeyPair("ed25519").private;
      const err = await rejection(provider.create(TABLE_URN, tableInputs({ ...conn, privateKey: wrapSecret(stranger) })));
      assert.match(err.message, /authentication failed/);
      assertNoKey(err.message, stranger);
      assert.equal(fake.scripts.length, 0);
    });
  });

  test("a private key that is not a key fails without quoting it", async () => {
    await withProvider(ok, async ({ fake, provider, conn }) => {
      const lines = SECRET_KEY.trim().split("\n");
      const garbage = [lines[0], ...lines.slice(1, -1).map((l) => [...l].reverse().join("")), lines[lines.length - 1]].join("\n");
      const err = await rejection(provider.create(TABLE_URN, tableInputs({ ...conn, privateKey: wrapSecret(garbage) })));
      assert.match(err.message, /privateKey .*cannot be used/);
      assertNoKey(err.message, garbage);
      assert.equal(fake.scripts.length, 0);
    });
  });
});

// ---- nothing leaked ----

/** The key's base64 body lines and the whole body must not appear in `text`. */
function keyFragments(key: string): string[] {
  const body = key.split("\n").filter((l) => l.trim() && !l.startsWith("-----"));
  return [...body, body.join(""), Buffer.from(body.join(""), "base64").toString("base64")].filter((f) => f.length >= 16);
}

function assertNoKey(text: string, key: string): void {
  for (const f of keyFragments(key)) assert.ok(!text.includes(f), `private key material leaked into: ${text.slice(0, 400)}`);
}

test("the private key never appears in errors, warnings, stderr or outputs", () => {
  assert.ok(exposed.length > 20, `the tests above exposed their messages and outputs (${exposed.length})`);
  const everything = [...exposed, ...stderrWrites].join("\n");
  assertNoKey(everything, SECRET_KEY);
  // The key does appear in its wrapped form in the outputs (checked above), and only there.
  assert.ok(!everything.includes("PRIVATE KEY"), "no private key header in any message");
});

test("the provider reports package.json's version to the engine", () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
  assert.equal(new MultiwanProvider(new SshPool()).version, pkg.version);
});

test("a create cut off halfway (the connection lost mid-script) is kept with its remove script and an unknown kernel state", async () => {
  const slowApply: Responder = (script) => (phaseOf(script) === "apply" ? { code: 0, delayMs: 2000 } : { code: 0 });
  await withProvider(slowApply, async ({ fake, provider, conn }) => {
    const creating = provider.create(TABLE_URN, tableInputs(conn));
    while (!fake.scripts.some((s) => phaseOf(s) === "apply")) await new Promise((r) => setTimeout(r, 5));
    fake.dropConnections();
    const err = await creating.then(
      () => assert.fail("the create succeeded"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof PartialCreateError, String(err));
    assert.match(err.message, /lost while running step "apply RoutingTable home-table-isp1"/);
    assert.match(err.id, /^table-/, "the id the finished create would have had");
    assert.deepEqual(err.outs.kernelState, UNKNOWN_KERNEL_STATE);
    assert.equal(err.outs.removeScript, tableScripts.remove, "destroy can remove what it may have put there");
  });
});
