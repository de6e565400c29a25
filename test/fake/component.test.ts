// MultiWanGateway and the program (index.ts) under Pulumi's mocks: the
// resource graph a site becomes — types, names, parents, dependencies and
// inputs — without an engine or a host. Every test installs fresh mocks, and
// records what the program registers through the mock monitor itself, so the
// parent and dependencies are the ones the engine would receive.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import * as settings from "@pulumi/pulumi/runtime/settings";
import program, { MultiWanGateway } from "../../index";
import { planResources } from "../../lib/resources";
import { preflightConfig, preflightSchema } from "../../lib/render/preflight";
import { planSite } from "../../lib/plan";
import type { Site } from "../../lib/schema";
import { parseSiteOrThrow } from "../../lib/validate";
import { SECRET_SIG, SECRET_SIG_KEY, isSecret, reveal } from "../../provider/secrets";
import { loadSite, rawSite, type SiteName } from "../support/site";

interface Registration {
  type: string;
  name: string;
  custom: boolean;
  urn?: string;
  parent: string;
  dependencies: string[];
  /** The provider reference ("<urn>::<id>"); empty for the default provider. */
  provider: string;
  /** The inputs as the mock monitor hands them to newResource (secrets deserialized, secretness pushed up to the top-level property). */
  inputs: Record<string, any>;
  /** The inputs as serialized for the engine: nested secrets stay where they were marked. */
  wire: Record<string, any>;
}

interface Session {
  registrations: Registration[];
  byName(name: string): Registration;
  /** The custom resources, by name (the gateways' providers and Confirmations are not among them). */
  children(): Registration[];
  /** Each gateway's Confirmation: the run's last resource. */
  confirmations(): Registration[];
  /** The explicit `multiwan` providers. */
  providers(): Registration[];
  nameOfUrn(urn: string): string;
  /** Waits until every registration the program started has been answered. */
  settle(): Promise<void>;
}

/** Fresh mocks for one test; records every registration with its parent and dependencies. */
async function mockSession(stack = "home"): Promise<Session> {
  const registrations: Registration[] = [];
  const pending: Registration[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        const r = pending.find((p) => p.type === args.type && p.name === args.name && p.inputs === undefined);
        if (r) r.inputs = args.inputs;
        return { id: args.custom ? `${args.name}-id` : undefined, state: args.inputs };
      },
      call: (args) => args.inputs,
    },
    "multiwan",
    stack,
    false,
  );
  const monitor = settings.getMonitor() as any;
  assert.ok(monitor && typeof monitor.registerResource === "function", "the mock monitor is installed");
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, callback: (err: any, res: any) => void) => {
    const r: Registration = {
      type: req.getType(),
      name: req.getName(),
      custom: req.getCustom(),
      parent: req.getParent(),
      dependencies: [...req.getDependenciesList()],
      provider: req.getProvider(),
      inputs: undefined as any,
      wire: req.getObject()?.toJavaScript() ?? {},
    };
    registrations.push(r);
    pending.push(r);
    return register(req, (err: any, res: any) => {
      if (res) r.urn = res.getUrn();
      callback(err, res);
    });
  };
  const session: Session = {
    registrations,
    byName(name) {
      // A gateway's provider is named after it too: look it up with providers().
      const found = registrations.filter((r) => r.name === name && !isProvider(r));
      assert.equal(found.length, 1, `exactly one resource named ${name}`);
      return found[0];
    },
    children: () => registrations.filter((r) => r.custom && !isProvider(r) && !isConfirmation(r)),
    confirmations: () => registrations.filter(isConfirmation),
    providers: () => registrations.filter(isProvider),
    nameOfUrn(urn) {
      const r = registrations.find((x) => x.urn === urn);
      assert.ok(r, `no registered resource has the urn ${urn}`);
      return r.name;
    },
    async settle() {
      await (settings as any).waitForRPCs();
      // The last registrations resolve outputs that others wait on: drain again.
      await new Promise((r) => setImmediate(r));
      await (settings as any).waitForRPCs();
    },
  };
  return session;
}

const isProvider = (r: Registration) => r.type === "pulumi:providers:multiwan";
const isConfirmation = (r: Registration) => r.type === "multiwan:index:Confirmation";

function outputValue<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise<T>((resolve) => o.apply((v) => resolve(v)));
}

function secretOf<T>(o: pulumi.Output<T>): Promise<boolean> {
  return pulumi.isSecret(o);
}

/** Expected children of a gateway: name, type and the names they depend on, from the plan. */
function expectedChildren(gateway: string, site: Site) {
  return planResources(planSite(site)).map((p) => ({
    key: p.key,
    name: `${gateway}-${p.key}`,
    type: `multiwan:index:${p.kind}`,
    dependsOn: p.dependsOn.map((k) => `${gateway}-${k}`).sort(),
    entry: p.entry,
  }));
}

async function buildGateway(site: SiteName, opts: { privateKey?: pulumi.Input<string>; siteOverride?: Site } = {}) {
  const session = await mockSession(site);
  const gateway = new MultiWanGateway(site, { site: opts.siteOverride ?? loadSite(site), privateKey: opts.privateKey });
  await Promise.all(Object.values(gateway.resources).map((r) => outputValue(r.urn)));
  await outputValue(gateway.urn);
  await session.settle();
  return { session, gateway };
}

function assertGraph(session: Session, gateway: string, site: Site) {
  const component = session.byName(gateway);
  assert.equal(component.type, "multiwan:index:MultiWanGateway");
  assert.equal(component.custom, false);
  assert.ok(component.urn, "the component was registered");
  // One provider per gateway, named after it: the connection and the preflight, once.
  const provider = session.providers().find((p) => p.name === gateway);
  assert.ok(provider?.urn, `the ${gateway} gateway has its own provider`);
  assert.equal(provider.parent, component.urn);
  const config = reveal(provider.inputs) as Record<string, any>;
  assert.equal(config.address, site.host.address);
  assert.equal(config.port, site.host.port);
  assert.equal(config.user, site.host.user);
  assert.equal(config.hostKey, site.host.hostKey);
  // Each interface and the owned objects one line each, which the provider reads back as the plan's preflight.
  assert.deepEqual(config.preflight, preflightConfig(planSite(site).preflight));
  assert.deepEqual(preflightSchema.parse(config.preflight), planSite(site).preflight);
  assert.equal(config.rollbackAfterSeconds, site.rollback.afterSeconds);
  const expected = expectedChildren(gateway, site);
  const children = session.children().filter((c) => c.parent === component.urn);
  // The monitor sees them in the order their dependencies resolve, not in program order.
  assert.deepEqual(children.map((c) => c.name).sort(), expected.map((e) => e.name).sort(), "the planned children, named <gateway>-<key>");
  for (const e of expected) {
    const child = session.byName(e.name);
    assert.equal(child.type, e.type, e.name);
    assert.equal(child.parent, component.urn, `${e.name} is a child of the ${gateway} gateway`);
    assert.deepEqual(
      child.dependencies.map((u) => session.nameOfUrn(u)).sort(),
      e.dependsOn,
      `${e.name} depends on ${e.dependsOn.join(", ")}`,
    );
    // Inputs: the entry's own fields, nothing else; the host is the provider's.
    assert.deepEqual(child.inputs, e.entry, `${e.name}: the plan entry`);
    assert.equal(child.provider.split("::").slice(0, -1).join("::"), provider.urn, `${e.name} uses the ${gateway} provider`);
  }
  // The run's last resource: after every other one, on the same provider; its input is a digest.
  const confirm = session.byName(`${gateway}-confirm`);
  assert.equal(confirm.type, "multiwan:index:Confirmation");
  assert.equal(confirm.parent, component.urn);
  assert.deepEqual(confirm.dependencies.map((u) => session.nameOfUrn(u)).sort(), expected.map((e) => e.name).sort());
  assert.match(confirm.inputs.digest, /^[0-9a-f]{64}$/);
  assert.equal(confirm.provider.split("::").slice(0, -1).join("::"), provider.urn);
}

/** Replaces every wrapped secret by a marker. */
function withoutSecrets(value: unknown): unknown {
  if (isSecret(value)) return "[secret]";
  if (Array.isArray(value)) return value.map(withoutSecrets);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutSecrets(v)]));
  return value;
}

/** The key reaches the gateway's provider only inside a secret, at privateKey; no resource sees it. */
function assertSecretKey(session: Session, key: string): void {
  const marker = key.split("\n")[1];
  for (const p of session.providers()) {
    // What the engine (and so the provider) receives: the key wrapped where it was marked, the rest plain.
    assert.deepEqual(p.wire.privateKey, { [SECRET_SIG_KEY]: SECRET_SIG, value: key }, `${p.name}: privateKey is a secret on the wire`);
    assert.equal(typeof p.wire.address, "string", `${p.name}: the rest of the configuration stays plain`);
    assert.ok(!JSON.stringify(withoutSecrets(p.wire)).includes(marker), `${p.name}: the key appears only inside the secret`);
    assert.ok(isSecret(p.inputs.privateKey), `${p.name}: privateKey is secret for the mocks`);
  }
  for (const c of session.children()) assert.ok(!JSON.stringify(c.wire).includes(marker), `${c.name} carries the key`);
}

describe("MultiWanGateway under mocks", () => {
  test("home: the resource graph of the post's site", async () => {
    const site = loadSite("home");
    const { session, gateway } = await buildGateway("home");
    assertGraph(session, "home", site);
    assert.deepEqual(
      session
        .children()
        .map((c) => `${c.type.replace("multiwan:index:", "")} ${c.name}`)
        .sort(),
      [
        "GatewayHost home-host",
        "RoutingTable home-table-isp1",
        "RoutingTable home-table-isp2",
        "PolicyRule home-rule-isp1",
        "PolicyRule home-rule-isp2",
        "ConnectionMark home-mark-isp1",
        "ConnectionMark home-mark-isp2",
        "MultipathDefaultRoute home-multipath",
        "PinnedRoutes home-pinned-isp2",
        "Masquerade home-masquerade-isp1",
        "Masquerade home-masquerade-isp2",
        "Forward home-forward",
        "HealthMonitor home-health",
      ].sort(),
    );
    const deps = (name: string) =>
      session
        .byName(name)
        .dependencies.map((u) => session.nameOfUrn(u))
        .sort();
    assert.deepEqual(deps("home-host"), []);
    assert.deepEqual(deps("home-table-isp1"), ["home-host"]);
    assert.deepEqual(deps("home-table-isp2"), ["home-host"]);
    assert.deepEqual(deps("home-rule-isp1"), ["home-table-isp1"]);
    assert.deepEqual(deps("home-rule-isp2"), ["home-table-isp2"]);
    assert.deepEqual(deps("home-mark-isp1"), ["home-table-isp1"]);
    assert.deepEqual(deps("home-multipath"), ["home-host", "home-mark-isp1", "home-mark-isp2", "home-table-isp1", "home-table-isp2"]);
    assert.deepEqual(deps("home-pinned-isp2"), ["home-host"]);
    assert.deepEqual(deps("home-forward"), ["home-host"]);
    assert.deepEqual(deps("home-health"), ["home-host", "home-mark-isp1", "home-mark-isp2", "home-multipath", "home-pinned-isp2"]);

    assert.deepEqual(
      Object.keys(gateway.resources),
      planResources(planSite(site)).map((p) => p.key),
    );
    assert.deepEqual(
      gateway.uplinks.map((u) => [u.name, u.interface, u.table, u.rulePriority, u.share]),
      [
        ["isp1", "eth1", 101, 1001, "67%"],
        ["isp2", "eth2", 102, 1002, "33%"],
      ],
    );
    assert.deepEqual(gateway.pinnedRoutes, ["174.143.119.91/32 via isp2"]);
    const multipath = session.byName("home-multipath").inputs;
    assert.deepEqual(
      multipath.nexthops.map((n: any) => [n.uplink, n.via, n.dev, n.weight]),
      [
        ["isp1", "192.168.1.254", "eth1", 2],
        ["isp2", "192.168.2.254", "eth2", 1],
      ],
    );
    // Without a private key the provider gets none (it then uses the ssh agent).
    assert.equal(session.providers()[0].inputs.privateKey, undefined);
  });

  test("office: three uplinks and two pinned routes", async () => {
    const site = loadSite("office");
    const { session } = await buildGateway("office");
    assertGraph(session, "office", site);
    const names = session.children().map((c) => c.name);
    for (const n of [
      "office-table-fibre",
      "office-table-cable",
      "office-table-lte",
      "office-rule-lte",
      "office-pinned-fibre",
      "office-pinned-cable",
      "office-masquerade-lte",
      "office-multipath",
      "office-forward",
      "office-mark-lte",
      "office-portforwards-fibre",
    ]) {
      assert.ok(names.includes(n), `${n} in ${names.join(", ")}`);
    }
    assert.ok(!names.includes("office-pinned-lte"), "no pinned resource for an uplink without pinned routes");
    assert.ok(!names.includes("office-portforwards-lte"), "no port-forward resource for an uplink without port forwards");
    assert.deepEqual(
      session
        .byName("office-portforwards-fibre")
        .dependencies.map((u) => session.nameOfUrn(u))
        .sort(),
      ["office-host", "office-mark-fibre"],
      "replies to forwarded connections are routed by the mark, so the mark comes first",
    );
    const deps = session
      .byName("office-multipath")
      .dependencies.map((u) => session.nameOfUrn(u))
      .sort();
    assert.deepEqual(deps, [
      "office-host",
      "office-mark-cable",
      "office-mark-fibre",
      "office-mark-lte",
      "office-table-cable",
      "office-table-fibre",
      "office-table-lte",
    ]);
  });

  test("two gateways in one program never share a child name", async () => {
    const session = await mockSession("sites");
    const home = new MultiWanGateway("home", { site: loadSite("home") });
    const office = new MultiWanGateway("office", { site: loadSite("office") });
    await Promise.all([...Object.values(home.resources), ...Object.values(office.resources)].map((r) => outputValue(r.urn)));
    await session.settle();
    const names = session.registrations.filter((r) => !isProvider(r)).map((r) => r.name);
    assert.equal(new Set(names).size, names.length, `duplicate names: ${names.join(", ")}`);
    assert.deepEqual(
      session
        .providers()
        .map((p) => p.name)
        .sort(),
      ["home", "office"],
      "one provider per gateway",
    );
    const urns = session.registrations.map((r) => r.urn);
    assert.equal(new Set(urns).size, urns.length);
    assertGraph(session, "home", loadSite("home"));
    assertGraph(session, "office", loadSite("office"));
    for (const gw of ["home", "office"]) {
      const component = session.byName(gw);
      for (const c of session.children().filter((x) => x.parent === component.urn)) assert.ok(c.name.startsWith(`${gw}-`), c.name);
    }
    // Each child depends only on children of its own gateway.
    for (const c of session.children()) {
      const gw = c.name.split("-")[0];
      for (const d of c.dependencies) assert.ok(session.nameOfUrn(d).startsWith(`${gw}-`), `${c.name} -> ${session.nameOfUrn(d)}`);
    }
  });

  test("changing one uplink's weight changes the multipath route only (the monitor reads the weights it writes)", async () => {
    const before = await buildGateway("home");
    const raw = rawSite("home");
    raw.uplinks[1].weight = 3;
    const after = await buildGateway("home", { siteOverride: parseSiteOrThrow(raw) });
    const inputsOf = (s: Session) => new Map(s.children().map((c) => [c.name, JSON.stringify(c.inputs)]));
    const a = inputsOf(before.session);
    const b = inputsOf(after.session);
    assert.deepEqual([...a.keys()], [...b.keys()], "the same resources");
    const changed = [...a.keys()].filter((name) => a.get(name) !== b.get(name));
    assert.deepEqual(changed, ["home-multipath"]);
    assert.deepEqual(
      after.session.byName("home-multipath").inputs.nexthops.map((n: any) => n.weight),
      [2, 3],
    );
    assert.deepEqual(
      after.gateway.uplinks.map((u) => u.share),
      ["40%", "60%"],
    );
  });

  test("the private key reaches the gateway's provider as a secret, and no resource", async () => {
    const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAcomponenttestkey\n-----END OPENSSH PRIVATE KEY-----\n";
    const { session, gateway } = await buildGateway("home", { privateKey: key });
    const privateKey = (gateway.provider as any).privateKey as pulumi.Output<any>;
    assert.ok(pulumi.Output.isInstance(privateKey), "privateKey is an output of the provider");
    assert.equal(await secretOf(privateKey), true, "privateKey is secret");
    assert.equal(await outputValue(privateKey), key);
    assertSecretKey(session, key);
  });
});

describe("the program (index.ts) under mocks", () => {
  const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAprogramtestkey\n-----END OPENSSH PRIVATE KEY-----\n";

  test("reads the site and the secret key from config and builds the stack's gateway", async () => {
    const session = await mockSession("home");
    pulumi.runtime.setAllConfig({ "gateway:site": JSON.stringify(rawSite("home")), "multiwan:sshPrivateKey": KEY }, [
      "multiwan:sshPrivateKey",
    ]);
    const outputs = await program();
    await session.settle();
    assert.equal(outputs.gateway, "root@192.168.3.100:22");
    assert.deepEqual(outputs.uplinks, [
      "isp1: eth1, table 101, rule 1001, 67% of new connections",
      "isp2: eth2, table 102, rule 1002, 33% of new connections",
    ]);
    assert.deepEqual(outputs.pinnedRoutes, ["174.143.119.91/32 via isp2"]);
    assert.ok(!JSON.stringify(outputs).includes("programtestkey"), "the key is not a stack output");
    assertGraph(session, "home", loadSite("home"));
    assertSecretKey(session, KEY);
  });

  test("an invalid site fails with the validation report as a RunError", async () => {
    const session = await mockSession("home");
    const raw = rawSite("home");
    raw.uplinks[1].gateway = "192.168.9.254";
    raw.uplinks[0].wieght = 2;
    pulumi.runtime.setAllConfig({ "gateway:site": JSON.stringify(raw), "multiwan:sshPrivateKey": KEY }, ["multiwan:sshPrivateKey"]);
    const err = await program().then(
      () => assert.fail("an invalid site must fail the program"),
      (e: unknown) => e as Error,
    );
    assert.ok(pulumi.RunError.isInstance(err), `a RunError (shown without a stack trace), got ${err}`);
    assert.match(err.message, /gateway:site of stack "home" is invalid \(2 problems\)/);
    assert.ok(err.message.includes("uplinks[1].gateway: 192.168.9.254 is outside uplink isp2's subnet 192.168.2.0/24"), err.message);
    assert.ok(err.message.includes('uplinks[0].wieght: unknown field (did you mean "weight"?)'), err.message);
    assert.ok(!err.message.includes("programtestkey"));
    await session.settle();
    assert.deepEqual(session.registrations, [], "nothing is registered for an invalid site");
  });

  test("a missing site says which config key to set", async () => {
    const session = await mockSession("nosite");
    pulumi.runtime.setAllConfig({}); // overwrites the whole config map
    await assert.rejects(program(), /has no "gateway:site" under "config:"/);
    await session.settle();
    assert.deepEqual(session.registrations, []);
  });

  test("a stack written before the move still works with multiwan:site: the same gateway", async () => {
    const session = await mockSession("home");
    pulumi.runtime.setAllConfig({ "multiwan:site": JSON.stringify(rawSite("home")), "multiwan:sshPrivateKey": KEY }, [
      "multiwan:sshPrivateKey",
    ]);
    const outputs = await program();
    await session.settle();
    assert.deepEqual(outputs.pinnedRoutes, ["174.143.119.91/32 via isp2"]);
    assertGraph(session, "home", loadSite("home"));
  });

  test("both keys at once is a problem that says which to keep", async () => {
    const session = await mockSession("home");
    const site = JSON.stringify(rawSite("home"));
    pulumi.runtime.setAllConfig({ "gateway:site": site, "multiwan:site": site, "multiwan:sshPrivateKey": KEY }, ["multiwan:sshPrivateKey"]);
    await assert.rejects(program(), /both gateway:site and multiwan:site are set: keep gateway:site and delete multiwan:site/);
    await session.settle();
    assert.deepEqual(session.registrations, []);
  });
});
