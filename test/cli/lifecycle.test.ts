// The plumbing behind `npm run pulumi` (cli/pulumi.ts): the Pulumi CLI runs a
// project's program hosted in the wrapper's Node process and drives a
// provider plugin named in Pulumi.yaml, through a whole stack lifecycle.
//
// The project is test/fixtures/lifecycle, copied into a temporary directory:
// three `recorder:index:Thing` resources a <- b <- c, and a provider that
// writes each call it gets to $RECORDER_LOG. Steps share one stack and run in
// order; each CLI command takes a second or two.
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { REPO_ROOT, assertSuccess, describeRun, runInTerminal, runPulumi, stripAnsi, PULUMI_ENTRY, type RunResult } from "../support/cli";

const FIXTURE = path.join(REPO_ROOT, "test", "fixtures", "lifecycle");
const URN = (name: string) => `urn:pulumi:dev::lifecycle::recorder:index:Thing::${name}`;

interface Call {
  call: string;
  urn: string;
  changed?: string[];
  tokenWasSecret?: boolean;
  tokenLength?: number;
  tokenSha256?: string;
}

describe("npm run pulumi: a stack's lifecycle with the program hosted in the wrapper", { timeout: 180_000 }, () => {
  let dir = "";
  let project = "";
  let state = "";
  let callLog = "";
  const secret = `s3cr3t-${randomBytes(12).toString("hex")}`;
  // Every command's output, to check that the secret never shows.
  const outputs: RunResult[] = [];

  const env = () => ({
    PULUMI_BACKEND_URL: `file://${state}`,
    PULUMI_CONFIG_PASSPHRASE: "lifecycle-test-passphrase",
    // Keeps the selected stack and any workspace files out of the user's cache.
    PULUMI_HOME: path.join(dir, "pulumi-home"),
    RECORDER_LOG: callLog,
  });

  /** Runs `pulumi <args>` in the project; `expectFailure` inverts the exit-code check. */
  async function pulumi(args: string[], opts: { expectFailure?: boolean; env?: Record<string, string | undefined> } = {}) {
    const r = await runPulumi(args, { cwd: project, env: { ...env(), ...opts.env }, timeoutMs: 60_000 });
    outputs.push(r);
    if (opts.expectFailure) assert.ok(r.code !== 0 && !r.timedOut, `expected a failure:\n${describeRun(r)}`);
    else assertSuccess(r);
    return r;
  }

  /** The provider calls recorded since the last call of this function. */
  function takeCalls(): Call[] {
    if (!fs.existsSync(callLog)) return [];
    const calls = fs
      .readFileSync(callLog, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Call);
    fs.rmSync(callLog);
    return calls;
  }
  const only = (calls: Call[], kind: string) => calls.filter((c) => c.call === kind);

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "multiwan-lifecycle-"));
    project = path.join(dir, "project");
    state = path.join(dir, "state");
    callLog = path.join(dir, "calls.jsonl");
    fs.cpSync(FIXTURE, project, { recursive: true });
    fs.chmodSync(path.join(project, "plugin", "pulumi-resource-recorder"), 0o755);
    // The program and the plugin resolve @pulumi/pulumi from here; a link to
    // the repository's node_modules makes the program load the very copy the
    // wrapper serves it with (the runtime's state lives in module instances).
    fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(project, "node_modules"), "dir");
    fs.mkdirSync(state);
    await pulumi(["stack", "init", "dev", "--non-interactive"]);
    assert.ok(fs.existsSync(path.join(state, ".pulumi", "stacks", "lifecycle", "dev.json")), "dev is not in PULUMI_BACKEND_URL");
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("pulumi version prints the pinned CLI version", async () => {
    const r = await pulumi(["version"]);
    assert.equal(r.stdout.trim(), "v3.248.0");
  });

  it("leaves the program to the CLI where a Node.js language host is installed", async () => {
    // A stand-in that notes it was started and fails: the CLI then gives up.
    const bin = path.join(dir, "fake-bin");
    const marker = path.join(dir, "language-host-started");
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, "pulumi-language-nodejs"), `#!/bin/sh\necho "$@" >> '${marker}'\nexit 3\n`, { mode: 0o755 });
    const r = await pulumi(["preview", "--non-interactive"], {
      expectFailure: true,
      env: { PATH: `${bin}${path.delimiter}${process.env.PATH}` },
    });
    assert.ok(fs.existsSync(marker), `the CLI did not start its language host:\n${describeRun(r)}`);
    assert.deepEqual(takeCalls(), []);
  });

  it("keeps state in <project>/.pulumi-state unless PULUMI_BACKEND_URL is set", async () => {
    await pulumi(["stack", "init", "elsewhere", "--no-select", "--non-interactive"], { env: { PULUMI_BACKEND_URL: undefined } });
    assert.ok(
      fs.existsSync(path.join(project, ".pulumi-state", ".pulumi", "stacks", "lifecycle", "elsewhere.json")),
      "the stack was not created in the project's .pulumi-state",
    );
  });

  it("preview calls only check and diff", async () => {
    const r = await pulumi(["preview", "--non-interactive"]);
    assert.match(r.stdout, /\+ 4 to create/);
    const calls = takeCalls();
    assert.deepEqual(new Set(calls.map((c) => c.call)), new Set(["check"]), JSON.stringify(calls));
    assert.deepEqual(
      only(calls, "check")
        .map((c) => c.urn)
        .sort(),
      [URN("a"), URN("b"), URN("c")],
    );
  });

  it("up --yes creates the resources in dependency order", async () => {
    const r = await pulumi(["up", "--yes", "--non-interactive"]);
    assert.match(r.stdout, /\+ 4 created/);
    assert.deepEqual(
      only(takeCalls(), "create").map((c) => c.urn),
      [URN("a"), URN("b"), URN("c")],
    );
  });

  it("a config change previews as one update showing the field, and up applies it", async () => {
    await pulumi(["config", "set", "greeting", "hi-there"]);
    const preview = await pulumi(["preview", "--diff", "--non-interactive"]);
    assert.match(preview.stdout, /~ 1 to update/);
    assert.doesNotMatch(preview.stdout, /to (create|delete|replace)/);
    assert.match(preview.stdout, /greeting\s*:\s*"hello"\s*=>\s*"hi-there"/);
    const previewCalls = takeCalls();
    assert.deepEqual(new Set(previewCalls.map((c) => c.call)), new Set(["check", "diff"]));
    assert.deepEqual(
      only(previewCalls, "diff").filter((c) => c.changed!.length > 0),
      [{ call: "diff", urn: URN("b"), changed: ["greeting"] }],
    );

    // --expect-no-changes must notice this change...
    await pulumi(["preview", "--expect-no-changes", "--non-interactive"], { expectFailure: true });
    takeCalls();

    const up = await pulumi(["up", "--yes", "--non-interactive"]);
    assert.match(up.stdout, /~ 1 updated/);
    const updates = only(takeCalls(), "update");
    assert.deepEqual(
      updates.map((c) => [c.urn, c.changed]),
      [[URN("b"), ["greeting"]]],
    );
  });

  it("preview --expect-no-changes passes once applied", async () => {
    await pulumi(["preview", "--expect-no-changes", "--non-interactive"]);
    takeCalls();
  });

  it("refresh --yes reads every resource", async () => {
    await pulumi(["refresh", "--yes", "--non-interactive"]);
    const calls = takeCalls();
    // Read twice each: once for the refresh's preview, once for the refresh.
    assert.deepEqual([...new Set(only(calls, "read").map((c) => c.urn))].sort(), [URN("a"), URN("b"), URN("c")]);
    // ...and diffed against the state (the engine asks the provider), but nothing changes.
    assert.deepEqual(
      calls.filter((c) => c.call !== "read" && c.call !== "diff"),
      [],
      "refresh changed something",
    );
  });

  it("a secret config value reaches the provider and is never shown or stored in plain text", async () => {
    await pulumi(["config", "set", "--secret", "token", secret]);
    await pulumi(["up", "--yes", "--non-interactive"]);
    const updates = only(takeCalls(), "update");
    assert.equal(updates.length, 1, JSON.stringify(updates));
    assert.equal(updates[0].urn, URN("c"));
    assert.equal(updates[0].tokenWasSecret, true);
    assert.equal(updates[0].tokenLength, secret.length);
    assert.equal(updates[0].tokenSha256, createHash("sha256").update(secret).digest("hex"));

    // `stack export` shows state as stored (the secret as ciphertext).
    await pulumi(["stack", "export"]);
    await pulumi(["stack", "output", "--json"]);
    for (const file of walk(state)) {
      assert.ok(!fs.readFileSync(file, "utf8").includes(secret), `secret in plain text in ${file}`);
    }
    assert.ok(!fs.readFileSync(path.join(project, "Pulumi.dev.yaml"), "utf8").includes(secret));
    for (const r of outputs) assert.ok(!r.output.includes(secret), `secret in the output of ${r.command}`);
  });

  it("up without --yes asks for confirmation in a terminal and proceeds on yes", async () => {
    await pulumi(["config", "set", "greeting", "from-a-terminal"]);
    const r = await runInTerminal([process.execPath, PULUMI_ENTRY, "up"], {
      cwd: project,
      env: env(),
      // The prompt is a selection list with "no" preselected: typing filters it down to "yes".
      responses: [{ when: /Do you want to perform this update\?/, send: "yes\r" }],
      timeoutMs: 60_000,
    });
    outputs.push(r);
    assertSuccess(r);
    const text = stripAnsi(r.stdout);
    assert.match(text, /Do you want to perform this update\?/);
    assert.match(text, /1 updated/);
    assert.deepEqual(
      only(takeCalls(), "update").map((c) => [c.urn, c.changed]),
      [[URN("b"), ["greeting"]]],
    );
  });

  it("a program that throws fails preview and up with its message and without the wrapper's stack", async () => {
    await pulumi(["config", "set", "fail", "true"]);
    await pulumi(["config", "set", "failReason", "the flux capacitor is empty"]);
    try {
      await programFailsCleanly();
    } finally {
      await pulumi(["config", "rm", "fail"]);
    }
  });

  async function programFailsCleanly() {
    for (const args of [["preview"], ["up", "--yes"]]) {
      const r = await pulumi([...args, "--non-interactive"], { expectFailure: true });
      assert.match(r.output, /boom: the flux capacitor is empty/, describeRun(r));
      const internals = r.output.split("\n").filter((l) => /^\s*at .*(dist\/cli|automation\/server|@pulumi\/pulumi|node:internal)/.test(l));
      assert.deepEqual(internals, [], describeRun(r));
      assert.doesNotMatch(r.output, /Unhandled exception/);
      // Said once, not once by the SDK and again by the engine.
      const diagnostics = r.output.slice(r.output.indexOf("Diagnostics:"));
      assert.equal(diagnostics.match(/error:/g)?.length, 1, describeRun(r));
    }
    assert.deepEqual(
      takeCalls().filter((c) => c.call !== "check" && c.call !== "diff"),
      [],
      "nothing may change when the program fails",
    );
  }

  it("destroy --yes deletes in reverse dependency order", async () => {
    const r = await pulumi(["destroy", "--yes", "--non-interactive"]);
    assert.match(r.stdout, /- 4 deleted/);
    assert.deepEqual(
      only(takeCalls(), "delete").map((c) => c.urn),
      [URN("c"), URN("b"), URN("a")],
    );
    for (const r of outputs) assert.ok(!r.output.includes(secret), `secret in the output of ${r.command}`);
  });

  // A create that takes 2 s, to interrupt an update while the provider works
  // on one resource. Each interruption leaves one more Thing created.
  const slow = { RECORDER_SLOW_MS: "2000" };
  const creating = (name: string) => new RegExp(`Thing\\s+${name}\\s+creating`);

  // With its interactive display the CLI reads Ctrl-C as a key (raw mode);
  // with --non-interactive the terminal sends SIGINT to the whole foreground
  // process group, wrapper included, so a wrapper that forwarded it would make
  // it a second ^C: "terminating", leaving the resource half-made.
  for (const [display, flags, name] of [
    ["interactive display", [], "a"],
    ["--non-interactive", ["--non-interactive"], "b"],
  ] as const) {
    it(`Ctrl-C in a terminal (${display}) cancels the update cleanly: one ^C, not two`, async () => {
      const before = await stateUrns();
      const r = await runInTerminal([process.execPath, PULUMI_ENTRY, "up", "--yes", ...flags], {
        cwd: project,
        env: { ...env(), ...slow },
        responses: [{ when: creating(name), send: "\x03" }],
        timeoutMs: 60_000,
      });
      outputs.push(r);
      const text = stripAnsi(r.stdout);
      assert.ok(r.code !== 0 && !r.timedOut, describeRun(r));
      assert.match(text, /\^C received; cancelling/, describeRun(r));
      assert.doesNotMatch(text, /received; terminating/, describeRun(r));
      assert.deepEqual(
        only(takeCalls(), "create").map((c) => c.urn),
        [URN(name)],
        "the update stops after one create",
      );
      assert.deepEqual(await stateUrns(), [...before, URN(name)], "its create was allowed to finish and is recorded");
    });
  }

  it("SIGTERM to the wrapper reaches the CLI, which cancels cleanly", async () => {
    let sent = false;
    const r = await runPulumi(["up", "--yes", "--non-interactive"], {
      cwd: project,
      env: { ...env(), ...slow },
      timeoutMs: 60_000,
      onOutput(output, child) {
        if (!sent && creating("c").test(output)) {
          sent = true;
          child.kill("SIGTERM"); // the wrapper alone, not its process group
        }
      },
    });
    outputs.push(r);
    assert.ok(sent, describeRun(r));
    assert.ok(r.code !== 0 && !r.timedOut, describeRun(r));
    assert.match(r.output, /SIGTERM received; cancelling/, describeRun(r));
    assert.doesNotMatch(r.output, /received; terminating/, describeRun(r));
    assert.deepEqual(
      only(takeCalls(), "create").map((c) => c.urn),
      [URN("c")],
    );
    assert.deepEqual(await stateUrns(), [URN("a"), URN("b"), URN("c")]);
  });

  /** The Things the stack's state holds. */
  async function stateUrns(): Promise<string[]> {
    const r = await pulumi(["stack", "export"]);
    const deployment = JSON.parse(r.stdout) as { deployment: { resources?: { urn: string; type: string }[] } };
    return (deployment.deployment.resources ?? [])
      .filter((res) => res.type === "recorder:index:Thing")
      .map((res) => res.urn)
      .sort();
  }
});

function* walk(dir: string): Generator<string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile()) yield p;
  }
}
