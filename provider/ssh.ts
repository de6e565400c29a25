// The provider's one SSH session pool. Every resource carries its own
// `connection`, but a provider process keeps ONE TCP connection per
// address:port:user and multiplexes exec channels over it, because a stack
// has dozens of resources per gateway and each handshake costs a round trip
// plus sshd's per-connection setup. The number of concurrent channels is
// bounded below sshd's MaxSessions (10 by default): beyond it sshd refuses
// channels with "Channel open failure".
//
// Scripts are piped to `sh -s` on stdin rather than passed as the command
// line: they can be thousands of lines long (ARG_MAX, quoting) and must not
// show up in the remote `ps` output.

import { constants as osConstants } from "node:os";
import { Client, type ClientChannel, type ConnectConfig, utils as sshUtils } from "ssh2";
import { blobKeyType, fingerprint, formatHostKey, hostKeyAlgorithms, parseHostKey, type HostKey } from "./hostKey";

/** What every resource carries as its `connection` input. */
export interface Connection {
  address: string;
  port: number;
  user: string;
  /** The server's public host key, "ssh-ed25519 AAAA... [comment]". Required unless insecureIgnoreHostKey. */
  hostKey?: string;
  /** Explicit opt-out of host key verification when no hostKey is given; warns on every run. */
  insecureIgnoreHostKey?: boolean;
  /** Private key text (OpenSSH or PEM), already unwrapped from the Pulumi secret. Absent: the ssh agent (SSH_AUTH_SOCK). */
  privateKey?: string;
  /**
   * Each script runs under coreutils `timeout` with this limit: past it, the
   * script's whole process group on the box is stopped (TERM, then KILL 5 s
   * later) and the run fails naming the step and the limit. Absent: no limit.
   */
  commandTimeoutSeconds?: number;
}

/** `timeout`'s exit code when the limit was reached. */
const TIMED_OUT = 124;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Set when the remote shell was killed by a signal (e.g. "SIGKILL"); `code` is then 128 + its number, like a shell reports it. */
  signal?: string;
  /** Set when the script hit the connection's commandTimeoutSeconds and was stopped. */
  timedOutAfter?: number;
}

export interface RunOptions {
  /** A short name for what the script does, used in error messages ("apply RoutingTable isp1"). */
  step?: string;
}

export interface SshPoolOptions {
  /** Concurrent exec channels per host. Default 8: below sshd's default MaxSessions of 10. */
  maxSessionsPerHost?: number;
  /** Where warnings go. Default: stderr (a provider's stdout belongs to the engine handshake). */
  warn?: (msg: string) => void;
  /** TCP connect + SSH handshake + authentication. Default 15 s. */
  connectTimeoutMs?: number;
  /** Remote command that reads the script on stdin. Default "sh -s". */
  shell?: string;
}

/** The server presented a host key other than the pinned one. */
export class HostKeyMismatchError extends Error {
  constructor(
    readonly host: string,
    readonly expected: string,
    readonly presented: string,
    expectedType: string,
    presentedType: string,
  ) {
    super(
      `host key mismatch for ${host}: expected ${expected} (${expectedType}), server presented ${presented} (${presentedType}). ` +
        `If the gateway was reinstalled or its keys rotated, update hostKey; otherwise something is intercepting the connection.`,
    );
    this.name = "HostKeyMismatchError";
  }
}

/** The connection could not be opened or was lost. The message names user@host:port and what to check. */
export class SshConnectionError extends Error {
  constructor(
    readonly target: string,
    message: string,
    /** The connection was lost while a script ran: it may have run partly. */
    readonly midScript = false,
  ) {
    super(message);
    this.name = "SshConnectionError";
  }
}

/** The run was cancelled (Ctrl-C) before its script started: nothing ran. */
export class CancelledError extends Error {
  constructor(
    readonly target: string,
    readonly step: string,
  ) {
    super(`step "${step}" was not started on ${target}: the run was cancelled (Ctrl-C); scripts already running there finished`);
    this.name = "CancelledError";
  }
}

/** A script exited non-zero (from runChecked). */
export class ScriptError extends Error {
  constructor(
    readonly step: string,
    readonly target: string,
    readonly result: RunResult,
  ) {
    super(scriptErrorMessage(step, target, result));
    this.name = "ScriptError";
  }
  get code(): number {
    return this.result.code;
  }
}

const TAIL_LINES = 20;
const TAIL_CHARS = 4000;

function scriptErrorMessage(step: string, target: string, r: RunResult): string {
  const how =
    r.timedOutAfter !== undefined
      ? `did not finish within ${r.timedOutAfter} s (host.commandTimeoutSeconds); its processes on the box were stopped`
      : r.signal
        ? `was killed by ${r.signal} (exit code ${r.code})`
        : `failed with exit code ${r.code}`;
  // Scripts report their failing step on stderr (the prelude's `die`); fall
  // back to stdout only when stderr is silent.
  const [name, text] = r.stderr.trim() ? ["stderr", r.stderr] : r.stdout.trim() ? ["stdout", r.stdout] : ["", ""];
  const head = `step "${step}" ${how} on ${target}`;
  return name ? `${head}; last lines of ${name}:\n${tail(text)}` : `${head} (no output)`;
}

function tail(text: string): string {
  const lines = text.replace(/\s+$/, "").split("\n");
  let out = lines.slice(-TAIL_LINES).join("\n");
  if (out.length > TAIL_CHARS) out = `...${out.slice(-TAIL_CHARS)}`;
  return out;
}

function hostPort(conn: Connection): string {
  return conn.address.includes(":") ? `[${conn.address}]:${conn.port}` : `${conn.address}:${conn.port}`;
}

function targetOf(conn: Connection): string {
  return `${conn.user}@${hostPort(conn)}`;
}

/** FIFO counting semaphore: bounds the exec channels open on one connection. */
class Semaphore {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next)
      next(); // hand the slot over directly, so a newcomer cannot overtake
    else this.free++;
  }
}

/** An authenticated connection and the host key its server presented. */
interface Live {
  client: Client;
  presented: Buffer;
  closed: boolean;
  whenClosed: Promise<void>;
}

interface HostEntry {
  target: string;
  sem: Semaphore;
  active: number;
  live?: Live;
  dialing?: Promise<Live>;
  warned: boolean;
}

export class SshPool {
  private readonly hosts = new Map<string, HostEntry>();
  private readonly maxSessions: number;
  private readonly warn: (msg: string) => void;
  private readonly connectTimeoutMs: number;
  private readonly shell: string;
  private connectionsOpened = 0;
  private maxConcurrentSessions = 0;
  /** Set by stopStarting(): no new script starts; those running finish. */
  private stopped = false;

  constructor(opts: SshPoolOptions = {}) {
    this.maxSessions = opts.maxSessionsPerHost ?? 8;
    if (!Number.isInteger(this.maxSessions) || this.maxSessions < 1) throw new Error("maxSessionsPerHost must be a positive integer");
    this.warn = opts.warn ?? ((msg) => process.stderr.write(`warning: ${msg}\n`));
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 15_000;
    this.shell = opts.shell ?? "sh -s";
  }

  /** Runs `script` on the host. Resolves with the exit code whatever it is; rejects only when the script could not be run to completion. */
  async run(conn: Connection, script: string, opts: RunOptions = {}): Promise<RunResult> {
    const entry = this.entryFor(conn);
    const step = opts.step ?? "script";
    if (this.stopped) throw new CancelledError(entry.target, step);
    // Dial before queueing for a session slot: every run waiting for this host
    // then shares one dial, and an unreachable host fails them all at once.
    await this.connect(entry, conn);
    await entry.sem.acquire();
    try {
      // A run that waited for its slot while the engine cancelled never starts.
      if (this.stopped) throw new CancelledError(entry.target, step);
      // Retries happen only when no channel was opened, i.e. nothing ran:
      // a connection that dropped since the last run is replaced once, and a
      // channel sshd refused is asked for again after a short backoff (sshd
      // counts sessions that have only just closed against MaxSessions, so
      // it refuses now and then even below the limit).
      let redialed = false;
      for (let refused = 0; ; ) {
        const live = await this.connect(entry, conn);
        try {
          const result = await this.exec(entry, live, script, step, this.commandFor(conn));
          if (conn.commandTimeoutSeconds !== undefined && result.code === TIMED_OUT) {
            return { ...result, timedOutAfter: conn.commandTimeoutSeconds };
          }
          return result;
        } catch (err) {
          if (err instanceof ChannelOpenError && err.connectionGone() && !redialed) {
            live.closed = true; // ssh2 may report "Not connected" before its 'close' event
            redialed = true;
            continue;
          }
          if (err instanceof ChannelOpenError && err.refused() && refused < CHANNEL_RETRIES) {
            await new Promise((resolve) => setTimeout(resolve, 20 * 2 ** refused++));
            continue;
          }
          throw err instanceof ChannelOpenError ? err.toConnectionError() : err;
        }
      }
    } finally {
      entry.sem.release();
    }
  }

  /** The remote command: the shell reading the script on stdin, under the time limit if there is one. */
  private commandFor(conn: Connection): string {
    return conn.commandTimeoutSeconds === undefined ? this.shell : `timeout -k 5 ${conn.commandTimeoutSeconds} ${this.shell}`;
  }

  /** Like run, but a non-zero exit rejects with a ScriptError naming the step, the exit code and the tail of stderr. */
  async runChecked(conn: Connection, script: string, step: string): Promise<RunResult> {
    const result = await this.run(conn, script, { step });
    if (result.code !== 0) throw new ScriptError(step, targetOf(conn), result);
    return result;
  }

  /**
   * Ctrl-C (the engine's Cancel): from now on no script starts, and every run
   * not yet started fails with a CancelledError; scripts already running on
   * a box are left to finish, so none is cut off halfway. close() still ends
   * the connections when the engine shuts the provider down.
   */
  stopStarting(): void {
    this.stopped = true;
  }

  /** Closes every connection; waits until their sockets are closed. The pool can still be used afterwards (it reconnects). */
  async close(): Promise<void> {
    const entries = [...this.hosts.values()];
    this.hosts.clear();
    await Promise.all(
      entries.map(async (e) => {
        const live = e.live ?? (await e.dialing?.catch(() => undefined));
        if (live) await endLive(live);
      }),
    );
  }

  /** connectionsOpened counts dials started; maxConcurrentSessions is the most exec channels seen open at once on one host. */
  stats(): { connectionsOpened: number; maxConcurrentSessions: number } {
    return { connectionsOpened: this.connectionsOpened, maxConcurrentSessions: this.maxConcurrentSessions };
  }

  private entryFor(conn: Connection): HostEntry {
    validateConnection(conn);
    const key = `${conn.address}:${conn.port}:${conn.user}`;
    let entry = this.hosts.get(key);
    if (!entry) {
      entry = { target: targetOf(conn), sem: new Semaphore(this.maxSessions), active: 0, warned: false };
      this.hosts.set(key, entry);
    }
    return entry;
  }

  /** The live connection for this host, dialing it if needed. Concurrent callers share one dial. */
  private async connect(entry: HostEntry, conn: Connection): Promise<Live> {
    let live = entry.live && !entry.live.closed ? entry.live : undefined;
    if (!live) {
      if (!entry.dialing) {
        entry.dialing = this.dial(entry, conn).finally(() => (entry.dialing = undefined));
      }
      live = await entry.dialing;
      entry.live = live;
    }
    // The connection may have been opened for another resource with a
    // different `connection` value: this run's own pin must hold too.
    const mismatch = checkHostKey(conn, live.presented);
    if (mismatch) throw mismatch;
    if (!conn.hostKey && !entry.warned) {
      entry.warned = true;
      this.warn(
        `host key not verified for ${hostPort(conn)} (insecureIgnoreHostKey is set); the server presented ` +
          `${fingerprint(live.presented)} (${blobKeyType(live.presented)}). Pin it with hostKey: "${formatHostKey(live.presented)}"`,
      );
    }
    return live;
  }

  private dial(entry: HostEntry, conn: Connection): Promise<Live> {
    const target = entry.target;
    const pinned = conn.hostKey ? parseHostKey(conn.hostKey) : undefined;
    const auth = authConfig(conn, target);
    this.connectionsOpened++;

    return new Promise<Live>((resolve, reject) => {
      const client = new Client();
      let presented: Buffer | undefined;
      let mismatch: HostKeyMismatchError | undefined;
      let agentError: string | undefined;
      let settled = false;
      let live: Live | undefined;
      let markClosed!: () => void;
      const whenClosed = new Promise<void>((r) => (markClosed = r));

      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        client.end();
        reject(err);
      };

      client.on("ready", () => {
        if (settled) return;
        settled = true;
        live = { client, presented: presented!, closed: false, whenClosed };
        resolve(live);
      });
      // Keep an error listener for the whole life of the client: an unhandled
      // 'error' event would crash the provider. After `ready`, a failure shows
      // up as 'close', and the next run reconnects.
      client.on("error", (err: Error & { level?: string; code?: string }) => {
        if (err.level === "agent") {
          agentError = err.message; // ssh2 goes on to the next auth method; report it if all fail
          return;
        }
        fail(mismatch ?? connectionError(err, target, conn, pinned, agentError, this.connectTimeoutMs));
      });
      client.on("close", () => {
        if (live) live.closed = true;
        markClosed();
        fail(new SshConnectionError(target, `SSH connection to ${target} closed during the handshake`));
      });

      const config: ConnectConfig = {
        host: conn.address,
        port: conn.port,
        username: conn.user,
        ...auth,
        readyTimeout: this.connectTimeoutMs,
        // Detect a dead peer during long scripts instead of waiting forever.
        keepaliveInterval: 15_000,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer) => {
          presented = Buffer.from(key);
          if (!pinned) return true; // insecureIgnoreHostKey: warned about in connect()
          mismatch = checkHostKey(conn, presented);
          return mismatch === undefined;
        },
      };
      // Ask for the pinned key's type: a server with several host keys would
      // otherwise present its preferred one and fail the comparison.
      if (pinned) config.algorithms = { serverHostKey: hostKeyAlgorithms(pinned.type) };
      try {
        client.connect(config);
        // Each run is a burst of small packets (open, exec, data, EOF): with
        // Nagle's algorithm each waits for the previous one's delayed ACK
        // (~40 ms on Linux), tripling the time of a short script.
        client.setNoDelay(true);
      } catch (err) {
        fail(new SshConnectionError(target, `cannot connect to ${target}: ${(err as Error).message}`));
      }
    });
  }

  private exec(entry: HostEntry, live: Live, script: string, step: string, command: string): Promise<RunResult> {
    return new Promise<RunResult>((resolve, reject) => {
      const onChannel = (err: Error | undefined, stream: ClientChannel) => {
        if (err) return reject(new ChannelOpenError(entry.target, step, err.message, live));
        entry.active++;
        this.maxConcurrentSessions = Math.max(this.maxConcurrentSessions, entry.active);
        const out: Buffer[] = [];
        const errOut: Buffer[] = [];
        let code: number | undefined;
        let signal: string | undefined;
        stream.on("data", (d: Buffer) => out.push(d));
        stream.stderr.on("data", (d: Buffer) => errOut.push(d));
        stream.on("exit", (c: number | null, sig?: string) => {
          if (typeof c === "number") code = c;
          else signal = sig ?? "SIGTERM";
        });
        // A shell that exits before reading all of stdin makes our write fail;
        // the exit status is what counts, so write errors are not fatal.
        stream.on("error", () => {});
        stream.on("close", () => {
          entry.active--;
          // Decode once at the end: a multi-byte character may span chunks.
          const stdout = Buffer.concat(out).toString("utf8");
          const stderr = Buffer.concat(errOut).toString("utf8");
          if (code !== undefined) return resolve({ code, stdout, stderr });
          if (signal !== undefined) return resolve({ code: 128 + signalNumber(signal), stdout, stderr, signal });
          reject(
            new SshConnectionError(
              entry.target,
              `connection to ${entry.target} was lost while running step "${step}"; it may have run partly. ` +
                `Scripts converge, so running again (pulumi up) is safe.`,
              true,
            ),
          );
        });
        stream.end(script, "utf8");
      };
      try {
        live.client.exec(command, onChannel);
      } catch (err) {
        // ssh2 throws "Not connected" when the socket already closed.
        reject(new ChannelOpenError(entry.target, step, (err as Error).message, live));
      }
    });
  }
}

/** Refused channels are asked for again this often (20 ms, doubling: about 1.3 s in all). */
const CHANNEL_RETRIES = 6;

/**
 * A session could not be opened; nothing ran. run() retries it once on a new
 * connection when the connection was gone, and up to CHANNEL_RETRIES times
 * with backoff when sshd refused the channel on a live one.
 */
class ChannelOpenError extends Error {
  constructor(
    readonly target: string,
    readonly step: string,
    readonly reason: string,
    readonly live: Live,
  ) {
    super(reason);
  }
  connectionGone(): boolean {
    return this.live.closed || /Not connected|No response from server/.test(this.reason);
  }
  /** sshd said no to this channel (e.g. MaxSessions) on a connection that is still up. */
  refused(): boolean {
    return !this.connectionGone() && /open failure/i.test(this.reason);
  }
  toConnectionError(): SshConnectionError {
    return new SshConnectionError(
      this.target,
      `could not open an SSH session on ${this.target} for step "${this.step}": ${this.reason}` +
        (/open failure/i.test(this.reason) ? " (is sshd's MaxSessions lower than the pool's maxSessionsPerHost?)" : ""),
    );
  }
}

function signalNumber(signal: string): number {
  const n = (osConstants.signals as Record<string, number | undefined>)[signal];
  return n ?? 127;
}

function validateConnection(conn: Connection): void {
  const target = targetOf(conn);
  if (typeof conn.address !== "string" || conn.address === "") throw new Error("connection.address is required");
  if (!Number.isInteger(conn.port) || conn.port < 1 || conn.port > 65535)
    throw new Error(`connection.port must be 1..65535 (connection ${target})`);
  if (typeof conn.user !== "string" || conn.user === "") throw new Error(`connection.user is required (connection ${target})`);
  if (conn.hostKey) {
    try {
      parseHostKey(conn.hostKey);
    } catch (err) {
      throw new Error(`connection.hostKey for ${target}: ${(err as Error).message}`);
    }
  } else if (conn.insecureIgnoreHostKey !== true) {
    throw new Error(
      `connection.hostKey is required for ${target}: the server's public host key, e.g. the content of ` +
        `/etc/ssh/ssh_host_ed25519_key.pub on the gateway ("ssh-ed25519 AAAA..."). ` +
        `To connect without verifying it, set insecureIgnoreHostKey: true.`,
    );
  }
}

/** Private key or agent. Errors never include key text: ssh2's own parse messages can quote key bytes. */
function authConfig(conn: Connection, target: string): Pick<ConnectConfig, "privateKey" | "agent"> {
  if (conn.privateKey !== undefined && conn.privateKey !== "") {
    const parsed = sshUtils.parseKey(conn.privateKey);
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (key instanceof Error || !key) {
      const why = /passphrase/i.test(key instanceof Error ? key.message : "")
        ? "it is encrypted with a passphrase; use an unencrypted key or the ssh agent"
        : "it is not an OpenSSH, PEM or PPK private key that ssh2 can read";
      throw new Error(`connection.privateKey for ${target} cannot be used: ${why}`);
    }
    if (!key.isPrivateKey()) throw new Error(`connection.privateKey for ${target} is a public key; give the private key`);
    return { privateKey: conn.privateKey };
  }
  const sock = process.env.SSH_AUTH_SOCK;
  if (!sock) {
    throw new Error(
      `no privateKey for ${target} and no ssh agent (SSH_AUTH_SOCK is not set): give connection.privateKey or start ssh-agent`,
    );
  }
  return { agent: sock };
}

function checkHostKey(conn: Connection, presented: Buffer): HostKeyMismatchError | undefined {
  if (!conn.hostKey) return undefined;
  const pinned: HostKey = parseHostKey(conn.hostKey);
  // The blob starts with the key type, so equal blobs also mean equal algorithms.
  if (pinned.blob.equals(presented)) return undefined;
  return new HostKeyMismatchError(
    hostPort(conn),
    fingerprint(pinned.blob),
    fingerprint(presented),
    pinned.type,
    blobKeyType(presented) ?? "unknown type",
  );
}

/** Turns ssh2/socket errors into one line a person can act on. */
function connectionError(
  err: Error & { level?: string; code?: string },
  target: string,
  conn: Connection,
  pinned: HostKey | undefined,
  agentError: string | undefined,
  timeoutMs: number,
): SshConnectionError {
  const where = hostPort(conn);
  let msg: string;
  switch (err.code) {
    case "ECONNREFUSED":
      msg = `cannot connect to ${target}: connection refused (is sshd listening on ${where}?)`;
      break;
    case "ETIMEDOUT":
      msg = `cannot connect to ${target}: TCP connection timed out`;
      break;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      msg = `cannot connect to ${target}: ${err.code === "EHOSTUNREACH" ? "host" : "network"} unreachable`;
      break;
    case "ECONNRESET":
      msg = `cannot connect to ${target}: connection reset by the server (sshd refused us: MaxStartups, tcpwrappers or firewall?)`;
      break;
    default:
      if (err.level === "client-timeout") {
        msg = `cannot connect to ${target}: no SSH handshake within ${Math.round(timeoutMs / 1000)} s (address, port, firewall?)`;
      } else if (err.level === "client-authentication") {
        const how = conn.privateKey
          ? "the configured privateKey"
          : `the ssh agent's keys${agentError ? ` (agent error: ${agentError})` : ""}`;
        msg = `authentication failed for ${target} with ${how}: is its public key in ~${conn.user}/.ssh/authorized_keys on the gateway?`;
      } else if (err.level === "client-dns") {
        msg = `cannot connect to ${target}: cannot resolve ${conn.address}`;
      } else if (/before handshake/.test(err.message)) {
        msg = `cannot connect to ${target}: the server closed the connection before the SSH handshake (is sshd listening on ${where}?)`;
      } else if (pinned && /no matching host key format/.test(err.message)) {
        msg = `${where} has no ${pinned.type} host key, the type of the pinned hostKey: pin one of the keys the server has`;
      } else {
        msg = `SSH connection to ${target} failed: ${err.message}`;
      }
  }
  return new SshConnectionError(target, msg);
}

function endLive(live: Live): Promise<void> {
  if (live.closed) return Promise.resolve();
  live.client.end();
  // A peer that does not answer our disconnect must not hold up shutdown.
  const t = setTimeout(() => live.client.destroy(), 2000);
  return live.whenClosed.then(() => clearTimeout(t));
}
