// Issue 19 against a fake SSH host: what the provider sends for a guarded
// run, and how many connections and round trips that costs. The first change
// arms the guard in the preflight's own round trip; every change holds it;
// the Confirmation confirms over a NEW connection; a run that changed
// nothing, and afterSeconds 0, send nothing of it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MultiwanProvider } from "../../provider/provider";
import { SshPool } from "../../provider/ssh";
import path from "node:path";
import { type FakeHost, type FakeReply, startFakeHost } from "../support/fakeHost";
import { FACTS_FIXTURES, readJson } from "../support/fixtures";
import { generateKeyPair } from "../support/keys";
import { loadPlan, planned, urnOf, wrapSecret } from "../support/site";

const CLIENT = generateKeyPair("ed25519", { comment: "rollback-test-client" });
const HOME = loadPlan("home");
const multipath = planned("home", "multipath");
const host = planned("home", "host");
const MULTIPATH_URN = urnOf("home", "MultipathDefaultRoute", "home-multipath");
const HOST_URN = urnOf("home", "GatewayHost", "home-host");
const CONFIRM_URN = "urn:pulumi:home::multiwan::multiwan:index:MultiWanGateway$multiwan:index:Confirmation::home-confirm";

const isArm = (s: string) => s.includes('echo "multiwan: armed"');
const isConfirm = (s: string) => s.includes('mkdir "$G/firing"') && !isArm(s);
const holds = (s: string) => s.startsWith("if [ -e /var/lib/multiwan/rollback/armed ]; then");

async function withProvider(
  afterSeconds: number,
  respond: (script: string) => FakeReply,
  body: (p: MultiwanProvider, fake: FakeHost) => Promise<void>,
): Promise<void> {
  const fake = await startFakeHost({ authorizedKey: CLIENT.public, respond });
  const provider = new MultiwanProvider(new SshPool({ connectTimeoutMs: 5000, warn: () => {} }));
  const conn = fake.connection();
  await provider.configure({
    address: conn.address,
    port: conn.port,
    user: conn.user,
    hostKey: conn.hostKey,
    privateKey: wrapSecret(CLIENT.private),
    preflight: HOME.preflight,
    rollbackAfterSeconds: afterSeconds,
  });
  try {
    await body(provider, fake);
  } finally {
    await provider.cancel();
    await fake.close();
  }
}

/** The multipath route's outputs after an earlier run (another provider process) created it. */
async function deployedMultipath(): Promise<Record<string, any>> {
  let outs: Record<string, any> = {};
  await withProvider(
    60,
    () => ({ code: 0 }),
    async (p) => {
      outs = (await p.create(MULTIPATH_URN, structuredClone(multipath.entry))).outs;
    },
  );
  return outs;
}

const reweighted = () => {
  const entry = structuredClone(multipath.entry) as any;
  entry.nexthops[1].weight = 3;
  return entry;
};

describe("a guarded run against a fake host", () => {
  test("up: armed with the preflight (no extra round trip), every change holds it, confirmed over one new connection", async () => {
    await withProvider(
      60,
      () => ({ code: 0 }),
      async (p, fake) => {
        const created = await p.create(MULTIPATH_URN, structuredClone(multipath.entry));
        assert.equal(fake.scripts.length, 2, "preflight + arm, then the apply");
        assert.ok(isArm(fake.scripts[0]) && /preflight/.test(fake.scripts[0]), "one round trip: preflight, then arm");
        assert.ok(holds(fake.scripts[1]), "the apply holds the guard");
        await p.update("x", MULTIPATH_URN, created.outs, reweighted());
        assert.equal(fake.scripts.length, 3, "no second arm");
        assert.ok(holds(fake.scripts[2]));
        assert.equal(fake.connections, 1);
        await p.update("confirmation", CONFIRM_URN, { digest: "a" }, { digest: "b" });
        assert.equal(fake.connections, 2, "the confirmation dials a new connection");
        assert.ok(isConfirm(fake.scripts[3]));
        assert.equal(fake.scripts.length, 4, "confirming is one script");
      },
    );
  });

  test("a run that changed nothing: the Confirmation opens no connection", async () => {
    await withProvider(
      60,
      () => ({ code: 0 }),
      async (p, fake) => {
        assert.equal((await p.diff("confirmation", CONFIRM_URN, { digest: "a" }, { digest: "a" })).changes, false);
        await p.update("confirmation", CONFIRM_URN, { digest: "refreshed" }, { digest: "a" });
        assert.equal(fake.connections, 0);
      },
    );
  });

  test("afterSeconds 0: no arm, no hold, no confirmation", async () => {
    await withProvider(
      0,
      () => ({ code: 0 }),
      async (p, fake) => {
        await p.create(MULTIPATH_URN, structuredClone(multipath.entry));
        assert.ok(!fake.scripts.some(isArm));
        assert.ok(!fake.scripts.some(holds));
        await p.update("confirmation", CONFIRM_URN, { digest: "a" }, { digest: "b" });
        assert.equal(fake.connections, 1);
      },
    );
  });

  test("destroy: arms before the first removal; GatewayHost's removal, the last, confirms", async () => {
    let outs: Record<string, any> = {};
    await withProvider(
      60,
      () => ({ code: 0 }),
      async (p) => {
        outs = {
          mp: (await p.create(MULTIPATH_URN, structuredClone(multipath.entry))).outs,
          h: (await p.create(HOST_URN, structuredClone(host.entry))).outs,
        };
      },
    );
    // `pulumi destroy` is a new provider process.
    await withProvider(
      60,
      () => ({ code: 0 }),
      async (p, fake) => {
        await p.delete("confirmation", CONFIRM_URN, { digest: "b" });
        assert.equal(fake.connections, 0, "deleting the Confirmation touches nothing");
        await p.delete("x", MULTIPATH_URN, outs.mp);
        await p.delete("gateway", HOST_URN, outs.h);
        assert.equal(fake.scripts.length, 4, "arm, two removals, confirm");
        assert.ok(isArm(fake.scripts[0]) && !/preflight/.test(fake.scripts[0]));
        assert.ok(holds(fake.scripts[1]) && holds(fake.scripts[2]));
        assert.ok(isConfirm(fake.scripts[3]));
        assert.equal(fake.connections, 2);
      },
    );
  });

  test("up: a removal after the run confirmed (engine deletes come last) arms and confirms by itself", async () => {
    await withProvider(
      60,
      () => ({ code: 0 }),
      async (p, fake) => {
        const mp = await p.create(MULTIPATH_URN, structuredClone(multipath.entry));
        await p.update("confirmation", CONFIRM_URN, { digest: "a" }, { digest: "b" });
        const before = fake.scripts.length;
        await p.delete("x", MULTIPATH_URN, mp.outs);
        const sent = fake.scripts.slice(before);
        assert.equal(sent.length, 3, "arm, the removal, confirm");
        assert.ok(isArm(sent[0]) && holds(sent[1]) && isConfirm(sent[2]));
      },
    );
  });

  test("up whose only change is a removal (a resource left the site; the Confirmation did not change): the removal arms and confirms by itself", async () => {
    const outs = await deployedMultipath();
    await withProvider(
      60,
      () => ({ code: 0 }),
      async (p, fake) => {
        await p.delete("x", MULTIPATH_URN, outs);
        assert.equal(fake.scripts.length, 3, "arm, the removal, confirm");
        assert.ok(isArm(fake.scripts[0]) && holds(fake.scripts[1]) && isConfirm(fake.scripts[2]));
        assert.equal(fake.connections, 2, "confirmed over a new connection: the guard is not left to fire");
      },
    );
  });

  test("a replacement's delete does not confirm: its create and the Confirmation follow", async () => {
    const outs = await deployedMultipath();
    await withProvider(
      60,
      () => ({ code: 0 }),
      async (p, fake) => {
        const moved = { ...structuredClone(multipath.entry), table: 201 };
        assert.ok((await p.diff("x", MULTIPATH_URN, outs, moved)).replaces.length > 0, "a table change replaces");
        await p.delete("x", MULTIPATH_URN, outs);
        assert.equal(fake.connections, 1, "no confirmation yet");
        assert.ok(!fake.scripts.some(isConfirm));
      },
    );
  });

  test("a preflight that finds foreign state refuses the run and takes back the guard it armed in the same round trip", async () => {
    // A real preflight output from a lab gateway with foreign routes, a rule and an nft table in what the home site would own.
    const foreign = readJson<{ output: string }>(path.join(FACTS_FIXTURES, "preflight", "home-nftables-foreign.json")).output;
    await withProvider(
      60,
      (script) => (/preflight/.test(script) ? { code: 0, stdout: `${foreign}@@ then\nmultiwan: armed\n` } : { code: 0 }),
      async (p, fake) => {
        await assert.rejects(p.create(MULTIPATH_URN, structuredClone(multipath.entry)), /is not multiwan's|multiwan did not add/);
        assert.equal(fake.scripts.length, 2, "preflight + arm, then the disarm; no change");
        assert.ok(isArm(fake.scripts[0]));
        assert.ok(fake.scripts[1].includes('rm -rf "$G"') && !isArm(fake.scripts[1]), "the guard is taken back");
      },
    );
  });

  test("every change of the box gets a fresh applied token (the Confirmation digests them); a change of how to reach it keeps it", async () => {
    await withProvider(
      60,
      () => ({ code: 0 }),
      async (p) => {
        const created = await p.create(MULTIPATH_URN, structuredClone(multipath.entry));
        assert.match(created.outs.applied, /^[0-9a-f]{16}$/);
        // A drift repair: the same inputs, the kernel state a refresh found.
        const repaired = await p.update(
          "x",
          MULTIPATH_URN,
          { ...created.outs, kernelState: [] },
          { ...structuredClone(multipath.entry), kernelState: created.outs.kernelState },
        );
        assert.notEqual(repaired.outs.applied, created.outs.applied);
        const untouched = await p.update("x", MULTIPATH_URN, repaired.outs, {
          ...structuredClone(multipath.entry),
          kernelState: repaired.outs.kernelState,
        });
        assert.equal(untouched.outs.applied, repaired.outs.applied);
      },
    );
  });

  test("the confirmation waits for changes still running, so it covers them", async () => {
    await withProvider(
      60,
      (s) => (s.includes("MultipathDefaultRoute") && !isArm(s) ? { code: 0, delayMs: 300 } : { code: 0 }),
      async (p, fake) => {
        await p.create(HOST_URN, structuredClone(host.entry));
        const slow = p.create(MULTIPATH_URN, structuredClone(multipath.entry));
        await new Promise((resolve) => setTimeout(resolve, 50));
        await p.update("confirmation", CONFIRM_URN, { digest: "a" }, { digest: "b" });
        await slow;
        assert.ok(isConfirm(fake.scripts[fake.scripts.length - 1]), "confirmed after the slow apply finished");
      },
    );
  });

  test("a confirmation that fails names when the box rolls back and what to do next", async () => {
    await withProvider(
      60,
      (s) => (isConfirm(s) ? { code: 3, stderr: "the guard is already rolling the box back" } : { code: 0 }),
      async (p) => {
        await p.create(MULTIPATH_URN, structuredClone(multipath.entry));
        const err = await p.update("confirmation", CONFIRM_URN, { digest: "a" }, { digest: "b" }).then(
          () => assert.fail("should fail"),
          (e: Error) => e,
        );
        assert.match(err.message, /could not confirm it: the guard is already rolling the box back/);
        assert.match(err.message, /The box rolls itself back at \d\d:\d\d:\d\d UTC \(rollback\.afterSeconds = 60 s/);
        assert.match(err.message, /run `pulumi refresh`.*then run `pulumi up`/);
      },
    );
  });
});
