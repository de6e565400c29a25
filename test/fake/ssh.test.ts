// SshPool against a fake SSH host (ssh2's Server on 127.0.0.1 in this process).

import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPair } from "../support/keys";
import { CancelledError, HostKeyMismatchError, ScriptError, SshConnectionError, SshPool } from "../../provider/ssh";
import { fingerprint, parseHostKey } from "../../provider/hostKey";
import { startFakeHost, type FakeHost } from "../support/fakeHost";
import { requireTool } from "../support/tools";

/** Fingerprint computed here without the module under test: sha256 of the base64-decoded key field. */
function independentFingerprint(line: string): string {
  const b64 = line.trim().split(/\s+/)[1];
  return `SHA256:${createHash("sha256").update(Buffer.from(b64, "base64")).digest("base64").replace(/=+$/, "")}`;
}

/**
 * What `ssh-keygen -lf` prints for this line. Undefined only when ssh-keygen
 * is missing on a workstation, which marks the test skipped (see requireTool).
 */
function sshKeygenFingerprint(t: TestContext, line: string): string | undefined {
  if (!requireTool(t, "ssh-keygen", "openssh-client")) return undefined;
  const dir = mkdtempSync(join(tmpdir(), "mw-ssh-test-"));
  try {
    const file = join(dir, "key.pub");
    writeFileSync(file, `${line}\n`);
    const r = spawnSync("ssh-keygen", ["-lf", file], { encoding: "utf8" });
    assert.equal(r.status, 0, `ssh-keygen -lf refused the key: ${r.stderr}`);
    return r.stdout.split(/\s+/)[1]; // "256 SHA256:xxx comment (ED25519)"
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs `body` with a fresh fake host and pool, and always closes both (no dangling handles). */
async function withHost(
  opts: Parameters<typeof startFakeHost>[0],
  body: (fake: FakeHost, pool: SshPool, warnings: string[]) => Promise<void>,
  poolOpts: ConstructorParameters<typeof SshPool>[0] = {},
): Promise<void> {
  const fake = await startFakeHost(opts);
  const warnings: string[] = [];
  const pool = new SshPool({ warn: (m) => warnings.push(m), connectTimeoutMs: 5000, ...poolOpts });
  try {
    await body(fake, pool, warnings);
  } finally {
    await pool.close();
    await fake.close();
  }
}

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function assertNoSecret(text: string, privateKey: string): void {
  const body = privateKey.split("\n").filter((l) => l && !l.startsWith("-----"));
  for (const line of body) assert.ok(!text.includes(line), `private key material leaked into: ${text}`);
}

test("fingerprints match node crypto and ssh-keygen -lf", (t) => {
  const { public: line } = generateKeyPair("ed25519", { comment: "gw" });
  const parsed = parseHostKey(line);
  assert.equal(parsed.type, "ssh-ed25519");
  assert.equal(parsed.comment, "gw");
  const fp = fingerprint(parsed.blob);
  assert.match(fp, /^SHA256:[A-Za-z0-9+/]{43}$/);
  assert.equal(fp, independentFingerprint(line));
  const keygen = sshKeygenFingerprint(t, line);
  if (keygen !== undefined) assert.equal(fp, keygen);
  // ssh-keyscan's "<host> <type> <key>" form is accepted too.
  assert.ok(parseHostKey(`192.0.2.1 ${line}`).blob.equals(parsed.blob));
  assert.ok(parseHostKey(`[192.0.2.1]:2222 ${line}`).blob.equals(parsed.blob));
});

test("parseHostKey throws the site schema's sentence for a malformed line", () => {
  const { public: line } = generateKeyPair("ed25519");
  const b64 = line.split(" ")[1];
  assert.throws(() => parseHostKey(""), /^Error: invalid host key: must be one line "<type> <base64 key> \[comment\]"/);
  assert.throws(() => parseHostKey(`ssh-foo ${b64}`), /key type "ssh-foo" is not supported/);
  assert.throws(() => parseHostKey(`ssh-ed25519 not*base64`), /must be one line/);
  assert.throws(
    () => parseHostKey(`ecdsa-sha2-nistp256 ${b64}`),
    /the key data is a "ssh-ed25519" key, not "ecdsa-sha2-nistp256": the line is mispasted/,
  );
  assert.throws(() => parseHostKey(`ssh-ed25519 ${b64.slice(0, 8)}`), /the key's base64 text is damaged/);
});

test("the pinned host key is accepted and the script is piped to sh -s", async () => {
  await withHost({ respond: (s) => ({ code: 0, stdout: `got ${s.length} bytes\n` }) }, async (fake, pool, warnings) => {
    const r = await pool.run(fake.connection(), "echo hello\n");
    assert.deepEqual(r, { code: 0, stdout: "got 11 bytes\n", stderr: "" });
    assert.deepEqual(fake.scripts, ["echo hello\n"]);
    assert.deepEqual(fake.commands, ["sh -s"]);
    assert.deepEqual(warnings, []);
  });
});

test("a host key pinned as ssh-keyscan prints it (host first, any port) is the same pin", async () => {
  await withHost({}, async (fake, pool) => {
    for (const hostKey of [`127.0.0.1 ${fake.hostKeyLine}`, `[127.0.0.1]:${fake.port} ${fake.hostKeyLine} root@gw`]) {
      assert.equal((await pool.run(fake.connection({ hostKey }), "true")).code, 0, hostKey);
    }
    const wrong = `[127.0.0.1]:${fake.port} ${generateKeyPair("ed25519").public}`;
    await assert.rejects(pool.run(fake.connection({ hostKey: wrong }), "true"), HostKeyMismatchError);
  });
});

test("a wrong pinned key is refused with both SHA256 fingerprints", async (t) => {
  await withHost({}, async (fake, pool) => {
    const wrong = generateKeyPair("ed25519").public;
    const err = await pool.run(fake.connection({ hostKey: wrong }), "true").then(
      () => assert.fail("connected despite a wrong host key"),
      (e: Error) => e,
    );
    assert.ok(err instanceof HostKeyMismatchError, String(err));
    const expected = independentFingerprint(wrong);
    const presented = independentFingerprint(fake.hostKeyLine);
    assert.notEqual(expected, presented);
    assert.ok(
      err.message.startsWith(
        `host key mismatch for 127.0.0.1:${fake.port}: expected ${expected} (ssh-ed25519), server presented ${presented} (ssh-ed25519)`,
      ),
      err.message,
    );
    const keygen = sshKeygenFingerprint(t, fake.hostKeyLine);
    if (keygen !== undefined) assert.ok(err.message.includes(keygen));
    assert.deepEqual(fake.scripts, [], "nothing may run on a host that failed verification");
    assert.equal(fake.authentications, 0, "the handshake stops before we authenticate to an unverified server");
  });
});

test("a missing hostKey without insecureIgnoreHostKey is refused before dialing", async () => {
  await withHost({}, async (fake, pool) => {
    await assert.rejects(
      pool.run(fake.connection({ hostKey: undefined }), "true"),
      /hostKey is required for root@127\.0\.0\.1:\d+.*insecureIgnoreHostKey/s,
    );
    assert.equal(fake.connections, 0);
  });
});

test("insecureIgnoreHostKey connects and warns once per host per pool", async () => {
  await withHost({}, async (fake, pool, warnings) => {
    const conn = fake.connection({ hostKey: undefined, insecureIgnoreHostKey: true });
    await pool.run(conn, "true");
    await pool.run(conn, "true");
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], new RegExp(`host key not verified for 127\\.0\\.0\\.1:${fake.port}`));
    assert.ok(warnings[0].includes(independentFingerprint(fake.hostKeyLine)), "the warning offers the fingerprint to pin");
    assert.ok(warnings[0].includes(fake.hostKeyLine), "the warning offers the line to pin");
  });
});

test("a server with several host keys presents the pinned type", async () => {
  const ed = generateKeyPair("ed25519").private;
  const ec = generateKeyPair("ecdsa", { bits: 256 }).private;
  await withHost({ hostKey: [ed, ec] }, async (fake, pool) => {
    const [edLine, ecLine] = fake.hostKeyLines;
    assert.match(ecLine, /^ecdsa-sha2-nistp256 /);
    // Without asking for the pinned algorithm the server would present ed25519 (ssh2's first choice).
    assert.equal((await pool.run(fake.connection({ hostKey: ecLine }), "true")).code, 0);
    await pool.close();
    assert.equal((await pool.run(fake.connection({ hostKey: edLine }), "true")).code, 0);
  });
});

test("a connection opened for one pin is not reused for a different pin", async () => {
  await withHost({}, async (fake, pool) => {
    await pool.run(fake.connection(), "true");
    const wrong = generateKeyPair("ed25519").public;
    await assert.rejects(pool.run(fake.connection({ hostKey: wrong }), "true"), HostKeyMismatchError);
    assert.equal(fake.scripts.length, 1);
  });
});

test("30 concurrent runs share one TCP connection and respect the session bound", async () => {
  await withHost({ respond: () => ({ code: 0, delayMs: 50 }), maxSessions: 10 }, async (fake, pool) => {
    const conn = fake.connection();
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => pool.run(conn, `echo ${i}\n`)));
    assert.equal(results.length, 30);
    assert.ok(results.every((r) => r.code === 0));
    assert.equal(fake.connections, 1, "exactly one TCP connection");
    assert.equal(pool.stats().connectionsOpened, 1, "exactly one dial");
    assert.equal(fake.maxConcurrentChannels, 8, "the default bound of 8 is reached and never exceeded");
    assert.equal(pool.stats().maxConcurrentSessions, 8);
    assert.equal(fake.refusedSessions, 0);
    assert.deepEqual([...fake.scripts].sort(), Array.from({ length: 30 }, (_, i) => `echo ${i}\n`).sort());
  });
});

test("maxSessionsPerHost sets the bound", async () => {
  await withHost(
    { respond: () => ({ code: 0, delayMs: 30 }) },
    async (fake, pool) => {
      await Promise.all(Array.from({ length: 10 }, () => pool.run(fake.connection(), "true")));
      assert.equal(fake.maxConcurrentChannels, 3);
      assert.equal(fake.connections, 1);
    },
    { maxSessionsPerHost: 3 },
  );
});

test("channels sshd refuses for a moment (MaxSessions) are asked for again, and all runs succeed", async () => {
  await withHost(
    { respond: () => ({ code: 0, delayMs: 50 }), maxSessions: 2 },
    async (fake, pool) => {
      const results = await Promise.all(Array.from({ length: 4 }, (_, i) => pool.run(fake.connection(), "true", { step: `s${i}` })));
      assert.deepEqual(
        results.map((r) => r.code),
        [0, 0, 0, 0],
      );
      assert.ok(fake.refusedSessions >= 2, `the fake refused ${fake.refusedSessions} channels`);
      assert.equal(fake.scripts.length, 4, "each script ran exactly once");
      assert.equal(fake.connections, 1, "a refused channel is not a dropped connection");
    },
    { maxSessionsPerHost: 4 },
  );
});

test("a host that keeps refusing channels gives a readable channel open failure", async () => {
  await withHost({ respond: () => ({ code: 0 }), maxSessions: 0 }, async (fake, pool) => {
    const err = await pool.run(fake.connection(), "true", { step: "s0" }).then(
      () => assert.fail("ran"),
      (e: Error) => e,
    );
    assert.match(err.message, /could not open an SSH session on root@127\.0\.0\.1:\d+ for step "s0": .*Channel open failure.*MaxSessions/);
    assert.equal(fake.refusedSessions, 7, "the first try and six retries");
    assert.equal(fake.connections, 1);
  });
});

test("run resolves with a non-zero code; runChecked rejects with a ScriptError", async () => {
  const stderr = `${Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).join("\n")}\nrouting table isp1: ip route replace failed\n`;
  await withHost({ respond: () => ({ code: 3, stdout: "partial\n", stderr }) }, async (fake, pool) => {
    const r = await pool.run(fake.connection(), "exit 3");
    assert.equal(r.code, 3);
    assert.equal(r.stderr, stderr);
    const err = await pool.runChecked(fake.connection(), "exit 3", "apply RoutingTable isp1").then(
      () => assert.fail("runChecked resolved"),
      (e: Error) => e,
    );
    assert.ok(err instanceof ScriptError);
    assert.equal(err.code, 3);
    assert.equal(err.step, "apply RoutingTable isp1");
    assert.match(err.message, /step "apply RoutingTable isp1" failed with exit code 3 on root@127\.0\.0\.1:\d+/);
    assert.match(err.message, /routing table isp1: ip route replace failed$/);
    assert.ok(err.message.includes("line 30") && err.message.includes("line 12\n"), err.message);
    assert.ok(!err.message.includes("line 11\n"), "only the tail (20 lines) of stderr");
    assert.ok(!err.message.includes("exit 3"), "the script itself is not in the message");
  });
});

test("a script killed by a signal reports 128 + signal number", async () => {
  await withHost({ respond: () => ({ signal: "KILL" }) }, async (fake, pool) => {
    const r = await pool.run(fake.connection(), "true");
    assert.equal(r.code, 137);
    assert.equal(r.signal, "SIGKILL");
  });
});

test("large scripts go through stdin intact and utf8 output survives chunking", async () => {
  const script = `${Array.from({ length: 5000 }, (_, i) => `ip route replace 198.51.100.${i % 256}/32 dev eth1 table isp1 proto 77 # ${i} ü`).join("\n")}\n`;
  const big = "grüße € 😀\n".repeat(20000); // > 300 KB, many SSH packets
  await withHost({ respond: (s) => ({ code: 0, stdout: big, stderr: `${Buffer.byteLength(s)}\n` }) }, async (fake, pool) => {
    const r = await pool.run(fake.connection(), script);
    assert.equal(fake.scripts[0], script);
    assert.equal(r.stderr, `${Buffer.byteLength(script)}\n`);
    assert.equal(r.stdout, big);
  });
});

test("connection refused names host:port and user without a stack trace", async () => {
  const port = await closedPort();
  const { private: key } = generateKeyPair("ed25519");
  const hostKey = generateKeyPair("ed25519").public;
  const pool = new SshPool({ connectTimeoutMs: 5000 });
  try {
    const err = await pool.run({ address: "127.0.0.1", port, user: "admin", hostKey, privateKey: key }, "true").then(
      () => assert.fail("connected to a closed port"),
      (e: Error) => e,
    );
    assert.ok(err instanceof SshConnectionError);
    assert.match(err.message, new RegExp(`admin@127\\.0\\.0\\.1:${port}: connection refused`));
    assert.ok(!/\n\s+at /.test(err.message), "no stack trace in the message");
    assertNoSecret(err.message, key);
    // Runs queued behind the session bound share the one failed dial instead of redialing.
    const conn = { address: "127.0.0.1", port, user: "admin", hostKey, privateKey: key };
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => pool.run(conn, "true")));
    assert.ok(results.every((r) => r.status === "rejected"));
    assert.equal(pool.stats().connectionsOpened, 2);
  } finally {
    await pool.close();
  }
});

test("authentication failure names the user and host:port, never the key", async () => {
  await withHost({ user: "root" }, async (fake, pool) => {
    const { private: other } = generateKeyPair("ed25519");
    const err = await pool.run(fake.connection({ privateKey: other }), "true").then(
      () => assert.fail("authenticated with the wrong key"),
      (e: Error) => e,
    );
    assert.ok(err instanceof SshConnectionError);
    assert.match(err.message, new RegExp(`authentication failed for root@127\\.0\\.0\\.1:${fake.port}`));
    assertNoSecret(err.message, other);
  });
});

test("the private key never appears in errors or warnings", async () => {
  await withHost({ respond: () => ({ code: 1, stderr: "boom\n" }) }, async (fake, pool, warnings) => {
    const key = fake.clientPrivateKey!;
    const messages: string[] = [];
    const collect = (p: Promise<unknown>) =>
      p.then(
        () => {},
        (e: Error) => messages.push(String(e), e.stack ?? ""),
      );
    await collect(pool.runChecked(fake.connection({ hostKey: undefined, insecureIgnoreHostKey: true }), "false", "step"));
    await collect(pool.run(fake.connection({ hostKey: generateKeyPair("ed25519").public, port: fake.port }), "true"));
    await pool.close();
    await collect(pool.run(fake.connection({ hostKey: generateKeyPair("ed25519").public }), "true"));
    // A mangled key: part of the real key text, which ssh2 cannot parse.
    const mangled = key.replace(/^(-----BEGIN OPENSSH PRIVATE KEY-----\n)[A-Za-z0-9+/]{10}/, "$1AAAAAAAAAA");
    await collect(pool.run(fake.connection({ privateKey: mangled }), "true"));
    await collect(pool.run(fake.connection({ privateKey: fake.authorizedKey }), "true"));
    assert.equal(messages.length, 10, messages.join("\n---\n"));
    assert.match(messages.join("\n"), /privateKey for root@127\.0\.0\.1:\d+ cannot be used/);
    assert.match(messages.join("\n"), /privateKey for root@127\.0\.0\.1:\d+ is a public key/);
    for (const m of [...messages, ...warnings]) {
      assertNoSecret(m, key);
      assertNoSecret(m, mangled);
    }
  });
});

test("no privateKey and no agent is a clear error", async () => {
  const saved = process.env.SSH_AUTH_SOCK;
  delete process.env.SSH_AUTH_SOCK;
  try {
    await withHost({}, async (fake, pool) => {
      await assert.rejects(
        pool.run(fake.connection({ privateKey: undefined }), "true"),
        /no privateKey for root@127\.0\.0\.1:\d+ and no ssh agent/,
      );
    });
  } finally {
    if (saved !== undefined) process.env.SSH_AUTH_SOCK = saved;
  }
});

test("after the connection drops, the next run reconnects once", async () => {
  await withHost({}, async (fake, pool) => {
    await pool.run(fake.connection(), "true");
    fake.dropConnections();
    await fake.whenNoConnections();
    const r = await pool.run(fake.connection(), "echo again");
    assert.equal(r.code, 0);
    assert.equal(fake.connections, 2);
    assert.equal(pool.stats().connectionsOpened, 2);
  });
});

test("a connection lost mid-script is an error that names the step", async () => {
  await withHost({ respond: () => ({ code: 0, delayMs: 2000 }) }, async (fake, pool) => {
    const running = pool.run(fake.connection(), "sleep 2", { step: "apply PolicyRule isp1" });
    while (fake.scripts.length === 0) await new Promise((r) => setTimeout(r, 5));
    fake.dropConnections();
    await assert.rejects(
      running,
      (e: Error) => e instanceof SshConnectionError && /lost while running step "apply PolicyRule isp1"/.test(e.message),
    );
  });
});

test("close() ends the connection and the pool can be reused", async () => {
  await withHost({}, async (fake, pool) => {
    await pool.run(fake.connection(), "true");
    assert.equal(fake.openConnections, 1);
    await pool.close();
    await fake.whenNoConnections();
    assert.equal(fake.openConnections, 0);
    await pool.run(fake.connection(), "true");
    assert.equal(fake.connections, 2);
  });
});

test("Ctrl-C (stopStarting): the scripts running finish, none of those waiting starts", async () => {
  await withHost(
    { respond: () => ({ code: 0, delayMs: 300 }) },
    async (fake, pool) => {
      const runs = Array.from({ length: 5 }, (_, i) =>
        pool.run(fake.connection(), `echo ${i}\n`, { step: `apply ${i}` }).then(
          (r) => r.code,
          (e: unknown) => e,
        ),
      );
      while (fake.scripts.length < 2) await new Promise((r) => setTimeout(r, 5));
      pool.stopStarting();
      const outcomes = await Promise.all(runs);
      assert.deepEqual(outcomes.slice(0, 2), [0, 0], "the two running scripts finished");
      for (const o of outcomes.slice(2)) {
        assert.ok(o instanceof CancelledError, String(o));
        assert.match(o.message, /step "apply \d" was not started on .*: the run was cancelled \(Ctrl-C\)/);
      }
      assert.equal(fake.scripts.length, 2, "nothing else reached the host");
      await assert.rejects(pool.run(fake.connection(), "true"), CancelledError);
    },
    { maxSessionsPerHost: 2 },
  );
});

test("concurrent first runs for different hosts each dial once", async () => {
  const a = await startFakeHost({});
  const b = await startFakeHost({});
  const pool = new SshPool();
  try {
    await Promise.all([
      ...Array.from({ length: 5 }, () => pool.run(a.connection(), "true")),
      ...Array.from({ length: 5 }, () => pool.run(b.connection(), "true")),
    ]);
    assert.equal(a.connections, 1);
    assert.equal(b.connections, 1);
    assert.equal(pool.stats().connectionsOpened, 2);
  } finally {
    await pool.close();
    await Promise.all([a.close(), b.close()]);
  }
});
