// What `npm run pulumi` settles after a killed run (cli/interrupted.ts):
// stale locks, pending creates and deletes, a destroy that did not finish.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import {
  UNKNOWN_KERNEL_STATE,
  markAllUnknown,
  removeStaleLocks,
  settlePendingOperations,
  stacksWithPendingOperations,
} from "../../cli/interrupted";

const PROVIDER = "urn:pulumi:home::multiwan::pulumi:providers:multiwan::home";
const PROVIDER_REF = `${PROVIDER}::5ac2a5b0`;
const urn = (kind: string, name: string) => `urn:pulumi:home::multiwan::multiwan:index:MultiWanGateway$multiwan:index:${kind}::${name}`;

function deployment() {
  return {
    resources: [
      { urn: "urn:pulumi:home::multiwan::pulumi:pulumi:Stack::multiwan-home", type: "pulumi:pulumi:Stack", custom: false },
      { urn: PROVIDER, id: "5ac2a5b0", type: "pulumi:providers:multiwan", custom: true, inputs: {}, outputs: {} },
      {
        urn: urn("RoutingTable", "home-table-isp1"),
        id: "table-101",
        type: "multiwan:index:RoutingTable",
        custom: true,
        provider: PROVIDER_REF,
        inputs: { table: 101 },
        outputs: { table: 101, kernelState: ["route default via 192.168.1.254"], removeScript: "#!/bin/sh" },
      },
    ],
    pending_operations: [
      {
        type: "creating",
        resource: {
          urn: urn("GatewayHost", "home-host"),
          type: "multiwan:index:GatewayHost",
          custom: true,
          provider: PROVIDER_REF,
          inputs: { protocol: 77, tableNames: [], sysctls: {}, interfaces: [{ name: "eth1", address: "192.168.1.1/24" }] },
        },
      },
      { type: "deleting", resource: { urn: urn("RoutingTable", "home-table-isp1"), type: "multiwan:index:RoutingTable" } },
      { type: "creating", resource: { urn: "urn:pulumi:home::multiwan::other:index:Thing::x", type: "other:index:Thing" } },
    ],
  };
}

test("an interrupted create joins the state with its inputs as outputs and an unknown kernel state; nothing stays pending", () => {
  const { deployment: d, notes } = settlePendingOperations(deployment());
  assert.deepEqual(d.pending_operations, []);
  const host = d.resources.find((r: any) => r.type === "multiwan:index:GatewayHost");
  assert.equal(host.id, "gateway", "the kind's own id");
  assert.equal(host.provider, PROVIDER_REF);
  assert.deepEqual(host.outputs, { ...host.inputs, kernelState: UNKNOWN_KERNEL_STATE });
  assert.equal(d.resources.at(-1), host, "after the provider it depends on");
  assert.ok(!d.resources.some((r: any) => r.type === "other:index:Thing"), "other providers' creates are not adopted");
  assert.match(notes.join("\n"), /took 1 resource\(s\) whose create was interrupted into the state, to be converged: home-host/);
});

test("a resource whose removal was interrupted keeps its place, with its kernel state unknown", () => {
  const { deployment: d, notes } = settlePendingOperations(deployment());
  const table = d.resources.find((r: any) => r.type === "multiwan:index:RoutingTable");
  assert.deepEqual(table.outputs.kernelState, UNKNOWN_KERNEL_STATE);
  assert.equal(table.outputs.removeScript, "#!/bin/sh", "the recorded remove script is kept");
  assert.match(notes.join("\n"), /marked 1 resource\(s\) whose removal was interrupted as unknown: home-table-isp1/);
});

test("after a destroy that did not finish, every multiwan resource left is unknown; the others are untouched", () => {
  const marked = markAllUnknown(deployment());
  assert.ok(marked);
  const [stack, provider, table] = marked.deployment.resources;
  assert.deepEqual(table.outputs.kernelState, UNKNOWN_KERNEL_STATE);
  assert.deepEqual(provider.outputs, {});
  assert.equal(stack.outputs, undefined);
  assert.equal(markAllUnknown({ resources: [stack, provider] }), undefined, "nothing of ours left: nothing to write");
});

test("a lock is removed only when its CLI ran on this machine and is gone", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "mw-locks-"));
  try {
    const dir = path.join(root, ".pulumi", "locks", "organization", "multiwan", "home");
    fs.mkdirSync(dir, { recursive: true });
    const lock = (name: string, content: object) => fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(content));
    lock("dead", { pid: 2 ** 22 + 12345, hostname: os.hostname(), timestamp: "2026-12-02T00:00:00Z" });
    lock("elsewhere", { pid: 2 ** 22 + 12345, hostname: `${os.hostname()}-other` });
    lock("alive-but-not-pulumi", { pid: process.pid, hostname: os.hostname() });
    const notes = removeStaleLocks(root);
    assert.equal(notes.length, 2, notes.join("\n"));
    assert.deepEqual(fs.readdirSync(dir).sort(), ["elsewhere.json"]);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("the stacks with pending operations are found in the file backend", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "mw-stacks-"));
  try {
    const dir = path.join(root, ".pulumi", "stacks", "multiwan");
    fs.mkdirSync(dir, { recursive: true });
    const cp = (stack: string, latest: object) =>
      fs.writeFileSync(path.join(dir, `${stack.split("/").pop()}.json`), JSON.stringify({ checkpoint: { stack, latest } }));
    cp("organization/multiwan/a", deployment());
    cp("organization/multiwan/b", { resources: [] });
    assert.deepEqual(stacksWithPendingOperations(root), ["organization/multiwan/a"]);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
