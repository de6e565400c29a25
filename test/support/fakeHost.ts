// A fake SSH host for tests, built on ssh2's own Server and running in the
// test process on 127.0.0.1. It accepts publickey auth for one key, records
// every script a client pipes to an exec channel, and answers with whatever
// `respond` says (exit code, stdout, stderr, delay). Resource tests use it to
// script gateway behaviour, e.g. failing the preflight or the apply step, or
// answering a read script with the live kernel state.

import { createServer, type Server as NetServer, type Socket } from "node:net";
import { Server as SshServer, utils as sshUtils, type ParsedKey, type ServerChannel } from "ssh2";
import { generateKeyPair } from "./keys";
import type { Connection } from "../../provider/ssh";

export interface FakeReply {
  code?: number; // default 0
  stdout?: string;
  stderr?: string;
  /** Wait this long after stdin closed before answering (lets runs overlap). */
  delayMs?: number;
  /** Answer with exit-signal instead of exit-status, e.g. "KILL". */
  signal?: string;
}

export interface ExecInfo {
  /** The exec request's command line, e.g. "sh -s". */
  command: string;
  user: string;
  /** Position of this script in `scripts`. */
  index: number;
}

export interface FakeHostOptions {
  /** Host private key(s) (OpenSSH or PEM text). Default: one generated ed25519 key. */
  hostKey?: string | string[];
  /** Public key line of the client key allowed to log in. Default: a generated ed25519 pair, see `clientPrivateKey`. */
  authorizedKey?: string;
  /** Only this user may log in. Default: any user. */
  user?: string;
  respond?: (script: string, info: ExecInfo) => FakeReply | Promise<FakeReply>;
  /** Refuse sessions beyond this many open on one connection, like sshd's MaxSessions. Default: no limit. */
  maxSessions?: number;
}

export interface FakeHost {
  address: "127.0.0.1";
  port: number;
  /** "ssh-ed25519 AAAA..." of the (first) host key: what a Connection pins. */
  hostKeyLine: string;
  hostKeyLines: string[];
  authorizedKey: string;
  /** Private half of the generated client key (undefined when authorizedKey was given). */
  clientPrivateKey: string | undefined;
  /** Every script received (stdin of an exec channel), in order of completion. */
  scripts: string[];
  /** The exec command lines, same order as scripts. */
  commands: string[];
  /** TCP connections accepted so far. */
  connections: number;
  /** TCP connections currently open. */
  openConnections: number;
  /** Most exec channels open at the same time (over all connections). */
  maxConcurrentChannels: number;
  /** Sessions refused because of maxSessions. */
  refusedSessions: number;
  /** Successful logins (a client that refused our host key never gets this far). */
  authentications: number;
  /** A Connection for SshPool with this host's key pinned and the generated client key (override as needed). */
  connection(overrides?: Partial<Connection>): Connection;
  /** Resolves once no TCP connection is open. */
  whenNoConnections(): Promise<void>;
  /** Drops every TCP connection abruptly (simulates a reboot or a network cut). */
  dropConnections(): void;
  close(): Promise<void>;
}

function parsePrivate(text: string): ParsedKey {
  const parsed = sshUtils.parseKey(text);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key instanceof Error) throw key;
  return key;
}

function publicLine(key: ParsedKey): string {
  return `${key.type} ${key.getPublicSSH().toString("base64")}`;
}

export async function startFakeHost(opts: FakeHostOptions = {}): Promise<FakeHost> {
  const hostKeys = opts.hostKey === undefined ? [generateKeyPair("ed25519").private] : ([] as string[]).concat(opts.hostKey);
  let clientPrivateKey: string | undefined;
  let authorizedKey = opts.authorizedKey;
  if (authorizedKey === undefined) {
    const pair = generateKeyPair("ed25519", { comment: "fake-host-client" });
    clientPrivateKey = pair.private;
    authorizedKey = pair.public;
  }
  const allowed = sshUtils.parseKey(authorizedKey);
  if (allowed instanceof Error || Array.isArray(allowed)) throw new Error(`fake host: cannot parse authorizedKey`);
  const respond = opts.respond ?? (() => ({ code: 0 }));

  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let activeChannels = 0;
  let closing = false;
  let idleWaiters: (() => void)[] = [];

  const ssh = new SshServer({ hostKeys }, (client) => {
    let sessions = 0;
    let user = "";
    client.on("error", () => {}); // resets and aborted handshakes are part of the tests
    client.on("authentication", (ctx) => {
      user = ctx.username;
      if (opts.user !== undefined && ctx.username !== opts.user) return ctx.reject(["publickey"]);
      if (ctx.method !== "publickey") return ctx.reject(["publickey"]);
      if (!ctx.key.data.equals(allowed.getPublicSSH())) return ctx.reject(["publickey"]);
      // Without a signature the client only asks whether the key would do.
      if (ctx.signature && ctx.blob && !allowed.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) return ctx.reject(["publickey"]);
      host.authentications++;
      ctx.accept();
    });
    client.on("ready", () => {
      client.on("session", (acceptSession, rejectSession) => {
        if (opts.maxSessions !== undefined && sessions >= opts.maxSessions) {
          host.refusedSessions++;
          return rejectSession();
        }
        sessions++;
        let released = false;
        let channelCounted = false;
        const release = () => {
          if (released) return;
          released = true;
          sessions--;
          if (channelCounted) activeChannels--;
        };
        const session = acceptSession();
        session.on("close", release);
        session.once("exec", (acceptExec, _reject, info) => {
          const stream: ServerChannel = acceptExec();
          channelCounted = true;
          activeChannels++;
          host.maxConcurrentChannels = Math.max(host.maxConcurrentChannels, activeChannels);
          let open = true;
          stream.on("close", () => {
            open = false;
            release();
          });
          stream.on("error", () => {});
          const chunks: Buffer[] = [];
          stream.on("data", (d: Buffer) => chunks.push(d));
          stream.on("end", async () => {
            const script = Buffer.concat(chunks).toString("utf8");
            const index = host.scripts.push(script) - 1;
            host.commands.push(info.command);
            let reply: FakeReply;
            try {
              reply = await respond(script, { command: info.command, user, index });
            } catch (err) {
              reply = { code: 255, stderr: `fake host: respond threw: ${(err as Error).message}\n` };
            }
            const answer = () => {
              if (!open) return;
              if (reply.stdout) stream.write(reply.stdout);
              if (reply.stderr) stream.stderr.write(reply.stderr);
              if (reply.signal) stream.exit(reply.signal, false, "");
              else stream.exit(reply.code ?? 0);
              stream.end();
            };
            if (reply.delayMs) {
              const t = setTimeout(() => {
                timers.delete(t);
                answer();
              }, reply.delayMs);
              timers.add(t);
            } else {
              answer();
            }
          });
        });
      });
    });
  });

  // Our own listener hands sockets to ssh2, so we can count and cut TCP connections.
  const net: NetServer = createServer((socket) => {
    if (closing) return socket.destroy();
    host.connections++;
    host.openConnections++;
    sockets.add(socket);
    socket.on("error", () => {});
    socket.setNoDelay(true); // like sshd: no Nagle delay between exit-status and channel close
    socket.once("close", () => {
      sockets.delete(socket);
      host.openConnections--;
      if (host.openConnections === 0) {
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const w of waiters) w();
      }
    });
    ssh.injectSocket(socket);
  });
  await new Promise<void>((resolve, reject) => {
    net.once("error", reject);
    net.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (net.address() as { port: number }).port;
  const hostKeyLines = hostKeys.map((k) => publicLine(parsePrivate(k)));

  const host: FakeHost = {
    address: "127.0.0.1",
    port,
    hostKeyLine: hostKeyLines[0],
    hostKeyLines,
    authorizedKey,
    clientPrivateKey,
    scripts: [],
    commands: [],
    connections: 0,
    openConnections: 0,
    maxConcurrentChannels: 0,
    refusedSessions: 0,
    authentications: 0,
    connection: (overrides = {}) => ({
      address: "127.0.0.1",
      port,
      user: opts.user ?? "root",
      hostKey: hostKeyLines[0],
      ...(clientPrivateKey ? { privateKey: clientPrivateKey } : {}),
      ...overrides,
    }),
    whenNoConnections: () => (host.openConnections === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve))),
    dropConnections: () => {
      for (const s of sockets) s.destroy();
    },
    close: async () => {
      closing = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      const closed = new Promise<void>((resolve) => net.close(() => resolve()));
      host.dropConnections();
      await closed;
    },
  };
  return host;
}
