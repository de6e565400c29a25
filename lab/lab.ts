// The network-namespace lab (design §4, §6): a multi-WAN gateway, two
// consumer modems, an "internet" with many server addresses and a LAN client,
// each in its own network namespace named `<lab>-<role>` where <lab> is `mw`
// plus random hex. Nothing is added to the host's network: the gateway's sshd
// is reached through a socat relay on the host's loopback, and everything the
// gateway writes to /etc, /var/lib or /usr/local lands in the lab's own overlay
// upper directories ("the gateway's disk").
//
//   namespace   interfaces (addresses)
//   <lab>-gw    eth0 192.168.3.100/24 (LAN), eth1 192.168.1.1/24 (isp1),
//               eth2 192.168.2.1/24 (isp2); no default route; sshd 127.0.0.1:22
//   <lab>-m1    lan 192.168.1.254/24 (peer of gw eth1), wan 198.18.1.2/24,
//               default via 198.18.1.1, forwards, masquerades out wan,
//               DNAT wan:8080 -> 192.168.1.1:80
//   <lab>-m2    lan 192.168.2.254/24, wan 198.18.2.2/24, same shape as m1
//   <lab>-net   m1 198.18.1.1/24, m2 198.18.2.1/24, lo with
//               203.0.113.10-69/32 and 198.51.100.91/32, 198.51.100.92/32;
//               a whoami TCP server on :7000 (every other TCP port is
//               redirected to it) that answers with the peer address it sees
//   <lab>-lan   eth0 192.168.3.10/24, default via 192.168.3.100
//
// The gateway's sshd runs in a private mount namespace (entered by exec("gw")):
//   /etc, /var/lib, /usr/local  overlays, upper dirs in <dir>/disk/* (kept over reboot())
//   /root, /run, /tmp, /var/tmp, /var/log  empty tmpfs (lost on reboot())
//   everything else             read-only: a write elsewhere fails with EROFS
//                               instead of reaching the host.
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { stringify as yamlStringify } from "yaml";

export type Role = "gw" | "m1" | "m2" | "net" | "lan";
export const ROLES: readonly Role[] = ["gw", "m1", "m2", "net", "lan"];

/** Addresses of the lab; the gateway side mirrors the seed post (design §4). */
export const TOPOLOGY = {
  gw: {
    lan: { interface: "eth0", address: "192.168.3.100/24" },
    uplinks: [
      { name: "isp1", interface: "eth1", address: "192.168.1.1/24", gateway: "192.168.1.254", weight: 2 },
      { name: "isp2", interface: "eth2", address: "192.168.2.1/24", gateway: "192.168.2.254", weight: 1 },
    ],
  },
  /** modem N: its LAN side (the uplink's gateway) and its WAN address (what the internet sees). */
  modems: {
    1: { lan: "192.168.1.254/24", wan: "198.18.1.2/24", upstream: "198.18.1.1", forwardTo: "192.168.1.1" },
    2: { lan: "192.168.2.254/24", wan: "198.18.2.2/24", upstream: "198.18.2.1", forwardTo: "192.168.2.1" },
  },
  lanClient: { interface: "eth0", address: "192.168.3.10/24", gateway: "192.168.3.100" },
  /** 60 server addresses in the internet namespace. */
  servers: Array.from({ length: 60 }, (_, i) => `203.0.113.${10 + i}`),
  /** Stand-ins for pinned destinations (the post's 174.143.119.91). */
  pinned: ["198.51.100.91", "198.51.100.92"],
  whoamiPort: 7000,
  /** Modems forward <wan>:8080 to the gateway's uplink address :80. */
  modemForwardPort: 8080,
  gatewayServerPort: 80,
} as const;

/** What the internet's whoami server answers for a flow that left via uplink N. */
export const SEEN_VIA = { isp1: "198.18.1.2", isp2: "198.18.2.2" } as const;

export interface LabOptions {
  /** Lab name: `mw` + lowercase letters/digits (default `mw` + 6 random hex). */
  name?: string;
  /** Where lab directories live (default $MULTIWAN_LAB_DIR or <repo>/.lab). */
  baseDir?: string;
  /** NAT backend written to Pulumi.lab.yaml (default nftables). */
  nat?: "nftables" | "iptables";
  /** down() keeps <dir> (disk, keys, logs); `labUp({name})` later reuses it. */
  keepState?: boolean;
  /** Step logger (default: one line per step on stderr). */
  log?: (msg: string) => void;
  /**
   * Tear the lab down synchronously if this process gets SIGINT/SIGTERM/SIGHUP
   * or exits before down() (see guardLab). For tests: `node --test` answers
   * Ctrl-C by sending SIGTERM to the test process, which skips `after` hooks.
   */
  guard?: boolean;
}

export interface ExecOptions {
  input?: string;
  timeoutMs?: number;
  /** Throw (with stdout/stderr in the message) when the exit code is not 0. */
  check?: boolean;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface FlowOptions {
  count: number;
  /** Destination port (default 7000; every TCP port of the internet reaches the whoami server). */
  port?: number;
  /** Destinations, used round-robin (default: the 60 server addresses). */
  targets?: readonly string[];
  timeoutMs?: number;
  concurrency?: number;
}

export interface InboundResult {
  ok: boolean;
  /** The gateway's server answers with the peer address it saw. */
  reply?: string;
  error?: string;
}

export interface GatewaySnapshot {
  /** `ip rule` */
  rules: string;
  /** `ip route show table all` */
  routes: string;
  /** `nft list ruleset` */
  nft: string;
  /** `iptables-save` without its comment lines */
  iptables: string;
  /** e.g. "net.ipv4.ip_forward" -> "0", "net.ipv4.conf.eth1.rp_filter" -> "0" */
  sysctls: Record<string, string>;
  /**
   * The gateway's disk relative to the host: gateway path -> description, for
   * every file/symlink in an overlay upper dir ("file 0644 12 sha256:..."),
   * deletion ("whiteout") and directory the host does not have ("dir 0755").
   * Directories merely copied up (they exist on the host) are left out, so a
   * destroy that removed everything it wrote gives back the earlier listing.
   * (Opaque directories, i.e. a host directory removed and made again, show
   * as copied up: node cannot read the overlay xattr.)
   */
  disk: Record<string, string>;
}

export interface DownOptions {
  keepState?: boolean;
  log?: (msg: string) => void;
}

export interface DownReport {
  name: string;
  namespaces: string[];
  killed: number[];
  removedDir: boolean;
  /** Anything still found after teardown (should be empty). */
  leftovers: string[];
}

interface LabState {
  name: string;
  dir: string;
  createdAt: string;
  namespaces: Record<Role, string>;
  sshPort: number;
  sshdPid: number;
  relayPid: number;
  whoamiPid: number;
  gwServerPid?: number;
  hostKeyLine: string;
  clientPublicKeyLine: string;
  privateKeyPath: string;
  knownHostsPath: string;
  stackFile: string;
  sshCommand: string;
  keepState: boolean;
  nat: "nftables" | "iptables";
  disk: Record<string, string>;
  topology: typeof TOPOLOGY;
}

// ---------------------------------------------------------------- helpers

export const NAME_RE = /^mw[0-9a-z]{1,12}$/;
const REPO_ROOT = path.resolve(__dirname, "..", "..");
const AGENT = path.join(__dirname, "agent.js");
const CLI = path.join(__dirname, "cli.js");
/** Overlays of the gateway: gateway path -> directory name under <dir>/disk. */
const OVERLAYS: Record<string, string> = { "/etc": "etc", "/var/lib": "var-lib", "/usr/local": "usr-local" };
const TMPFS = ["/root", "/tmp", "/var/tmp", "/var/log"];

export function defaultBaseDir(): string {
  return process.env.MULTIWAN_LAB_DIR ?? path.join(REPO_ROOT, ".lab");
}

function defaultLog(name: string): (msg: string) => void {
  const t0 = Date.now();
  return (msg) => process.stderr.write(`lab ${name} +${((Date.now() - t0) / 1000).toFixed(2)}s: ${msg}\n`);
}

/** Runs argv without a shell; never rejects unless check is set. */
export function run(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? 30_000);
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.input ?? "");
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`${argv.join(" ")}: ${e.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const r: ExecResult = { code: timedOut ? 124 : (code ?? 128 + (signal ? 9 : 0)), stdout, stderr: timedOut ? stderr + `\n(timed out after ${opts.timeoutMs ?? 30_000} ms)` : stderr };
      if (opts.check && r.code !== 0) {
        reject(new Error(`command failed (exit ${r.code}): ${argv.join(" ")}\n${r.stderr.trim()}\n${r.stdout.trim()}`.trim()));
      } else resolve(r);
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // a zombie is not alive
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Command lines that belong to lab `name` (relay, sshd, agents, `ip netns exec` wrappers). */
function labProcessRe(name: string): RegExp {
  const n = escapeRe(name);
  return new RegExp(`(?:${n}-(?:gw|m1|m2|net|lan)\\b|/${n}/|--lab ${n}(?:\\s|$))`);
}
const ANY_LAB_PROCESS_RE = /(?:netns exec (mw[0-9a-z]{1,12})-(?:gw|m1|m2|net|lan)\b|--lab (mw[0-9a-z]{1,12})(?:\s|$)|\/(mw[0-9a-z]{1,12})\/sshd_config)/;

function ancestors(): Set<number> {
  const out = new Set<number>([process.pid]);
  let pid = process.pid;
  for (let i = 0; i < 64 && pid > 1; i++) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      pid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      out.add(pid);
    } catch {
      break;
    }
  }
  return out;
}

function allPids(): number[] {
  return fs
    .readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

async function listNetns(): Promise<string[]> {
  const r = await run(["ip", "netns", "list"]);
  return r.stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((s) => s);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves when a TCP connection to 127.0.0.1:port answers with an SSH banner. */
function sshBanner(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    let buf = "";
    const done = (ok: boolean) => {
      clearTimeout(t);
      s.destroy();
      resolve(ok);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    s.setEncoding("utf8");
    s.on("data", (d: string) => {
      buf += d;
      if (buf.includes("\n")) done(buf.startsWith("SSH-2.0-"));
    });
    s.on("error", () => done(false));
    s.on("close", () => done(false));
  });
}

function writeFile(file: string, text: string, mode = 0o644): void {
  fs.writeFileSync(file, text, { mode });
  fs.chmodSync(file, mode);
}

function readKeyLine(file: string): string {
  // "ssh-ed25519 AAAA... comment" -> "ssh-ed25519 AAAA..."
  const [type, blob] = fs.readFileSync(file, "utf8").trim().split(/\s+/);
  return `${type} ${blob}`;
}

// ---------------------------------------------------------------- the lab

export class Lab {
  readonly name: string;
  readonly dir: string;
  readonly ns: Readonly<Record<Role, string>>;
  readonly log: (msg: string) => void;
  private state: LabState;
  /** Removes the signal/exit guard (set by labUp({guard: true})). */
  unguard: () => void = () => undefined;

  /** Use labUp() or openLab(). */
  constructor(state: LabState, log?: (msg: string) => void) {
    this.state = state;
    this.name = state.name;
    this.dir = state.dir;
    this.ns = state.namespaces;
    this.log = log ?? defaultLog(state.name);
  }

  get sshPort(): number {
    return this.state.sshPort;
  }
  /** The lab sshd's host key as in authorized_keys: "ssh-ed25519 AAAA...". */
  get hostKeyLine(): string {
    return this.state.hostKeyLine;
  }
  get privateKeyPath(): string {
    return this.state.privateKeyPath;
  }
  get knownHostsPath(): string {
    return this.state.knownHostsPath;
  }
  /** <dir>/Pulumi.lab.yaml: `multiwan:site` for this lab (without the private key). */
  get stackFile(): string {
    return this.state.stackFile;
  }
  get sshdPid(): number {
    return this.state.sshdPid;
  }
  /** Connection settings for ssh2 / the provider. */
  get connection(): { host: string; port: number; user: string; hostKey: string; privateKeyPath: string } {
    return { host: "127.0.0.1", port: this.sshPort, user: "root", hostKey: this.hostKeyLine, privateKeyPath: this.privateKeyPath };
  }
  /** Overlay upper dirs: gateway path ("/etc") -> host directory. */
  get disk(): Readonly<Record<string, string>> {
    return this.state.disk;
  }
  /** A copy of everything lab.json holds. */
  get info(): LabState {
    return JSON.parse(JSON.stringify(this.state)) as LabState;
  }

  /** argv of the OpenSSH client for the lab gateway (pinned host key, no ~/.ssh use). */
  sshArgs(...remote: string[]): string[] {
    return [
      "ssh", "-F", "none", "-i", this.privateKeyPath, "-p", String(this.sshPort),
      "-o", `UserKnownHostsFile=${this.knownHostsPath}`, "-o", "GlobalKnownHostsFile=/dev/null",
      "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
      "-o", "LogLevel=ERROR", "root@127.0.0.1", ...remote,
    ];
  }

  /** Runs a command on the gateway over SSH (one connection per call). */
  ssh(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return run(this.sshArgs(command), opts);
  }

  /**
   * Runs a command in one of the lab's namespaces: a string goes to `sh -c`,
   * an array is argv. "gw" commands also enter the sshd's mount namespace, so
   * they see (and write) the gateway's overlays exactly as SSH sessions do.
   */
  exec(role: Role, cmd: string | readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const argv = typeof cmd === "string" ? ["sh", "-c", cmd] : [...cmd];
    if (role === "gw") {
      if (!alive(this.state.sshdPid)) {
        return Promise.reject(new Error(`lab ${this.name}: the gateway's sshd (pid ${this.state.sshdPid}) is not running; its mount namespace is gone`));
      }
      return run(["nsenter", "-t", String(this.state.sshdPid), "-m", "-n", "--", ...argv], opts);
    }
    return run(["ip", "netns", "exec", this.ns[role], ...argv], opts);
  }

  /**
   * Opens `count` TCP connections from the LAN client, round-robin over the
   * targets, and tallies what the internet's whoami server saw as their
   * source: "198.18.1.2" = left via isp1, "198.18.2.2" = via isp2 (SEEN_VIA).
   * Failed connections are counted under "error:<code>" (e.g. error:ENETUNREACH).
   */
  async flows(opts: FlowOptions): Promise<Map<string, number>> {
    const spec = {
      targets: [...(opts.targets ?? TOPOLOGY.servers)],
      count: opts.count,
      port: opts.port ?? TOPOLOGY.whoamiPort,
      timeoutMs: opts.timeoutMs ?? 2000,
      concurrency: opts.concurrency ?? 64,
    };
    const r = await this.exec("lan", [process.execPath, AGENT, "flows", "--lab", this.name, "--spec", JSON.stringify(spec)], {
      check: true,
      timeoutMs: 60_000 + spec.timeoutMs * Math.ceil(spec.count / spec.concurrency),
    });
    const out = JSON.parse(r.stdout) as { tally: Record<string, number>; ms: number };
    return new Map(Object.entries(out.tally).sort((a, b) => a[0].localeCompare(b[0])));
  }

  /**
   * From the internet namespace, binds `fromAddress` (e.g. a pinned stand-in
   * 198.51.100.91 or a server address) and connects to modem N's WAN address
   * :8080, which the modem forwards to the gateway's uplink address :80. True
   * when the gateway's server answered (its reply travelled back the way the
   * gateway routed it).
   */
  async inbound(viaModem: 1 | 2, fromAddress: string, timeoutMs = 2000): Promise<boolean> {
    return (await this.inboundDetail(viaModem, fromAddress, timeoutMs)).ok;
  }

  async inboundDetail(viaModem: 1 | 2, fromAddress: string, timeoutMs = 2000): Promise<InboundResult> {
    await this.ensureGatewayServer();
    const wan = TOPOLOGY.modems[viaModem].wan.split("/")[0];
    const r = await this.exec(
      "net",
      [process.execPath, AGENT, "connect", "--lab", this.name, "--host", wan, "--port", String(TOPOLOGY.modemForwardPort), "--bind", fromAddress, "--timeout", String(timeoutMs)],
      { check: true, timeoutMs: timeoutMs + 30_000 },
    );
    return JSON.parse(r.stdout) as InboundResult;
  }

  /** One TCP connection from a namespace (no ping on these machines). */
  async connect(role: Role, host: string, port: number, timeoutMs = 2000, bind?: string): Promise<InboundResult> {
    const argv = [process.execPath, AGENT, "connect", "--lab", this.name, "--host", host, "--port", String(port), "--timeout", String(timeoutMs)];
    if (bind) argv.push("--bind", bind);
    const r = await this.exec(role, argv, { check: true, timeoutMs: timeoutMs + 30_000 });
    return JSON.parse(r.stdout) as InboundResult;
  }

  /** Starts the gateway's TCP server on :80 (answers with the peer address) unless it runs. */
  async ensureGatewayServer(): Promise<void> {
    if (alive(this.state.gwServerPid) && labProcessRe(this.name).test(cmdline(this.state.gwServerPid!))) return;
    this.log(`starting the gateway's test server on :${TOPOLOGY.gatewayServerPort}`);
    const pid = spawnDaemon(this.dir, "gw-server", ["ip", "netns", "exec", this.ns.gw, process.execPath, AGENT, "whoami", "--lab", this.name, "--port", String(TOPOLOGY.gatewayServerPort)]);
    this.state.gwServerPid = pid;
    await waitListening(this.ns.gw, this.dir, "gw-server", TOPOLOGY.gatewayServerPort, pid);
    this.save();
  }

  /** The gateway's kernel state and disk, for before/after comparisons. */
  async snapshot(): Promise<GatewaySnapshot> {
    const script = [
      "echo @@rules; ip rule",
      "echo @@routes; ip route show table all",
      "echo @@nft; nft list ruleset 2>&1",
      "echo @@iptables; iptables-save 2>&1 | grep -v '^#'",
      "echo @@sysctls",
      "for f in /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/fib_multipath_hash_policy /proc/sys/net/ipv4/fib_multipath_use_neigh /proc/sys/net/ipv4/conf/*/rp_filter /proc/sys/net/ipv4/conf/*/ignore_routes_with_linkdown; do echo \"$f=$(cat $f)\"; done",
      "echo @@end",
    ].join("\n");
    const r = await this.exec("gw", script, { check: true });
    const sec: Record<string, string> = {};
    let cur = "";
    for (const line of r.stdout.split("\n")) {
      const m = /^@@(\w+)$/.exec(line);
      if (m) {
        cur = m[1];
        sec[cur] = "";
      } else if (cur) sec[cur] += line + "\n";
    }
    const sysctls: Record<string, string> = {};
    for (const line of (sec.sysctls ?? "").split("\n")) {
      const m = /^\/proc\/sys\/(.*)=(.*)$/.exec(line);
      if (m) sysctls[m[1].split("/").join(".")] = m[2];
    }
    return {
      rules: (sec.rules ?? "").trim(),
      routes: (sec.routes ?? "").trim(),
      nft: (sec.nft ?? "").trim(),
      iptables: (sec.iptables ?? "").trim(),
      sysctls,
      disk: this.diskListing(),
    };
  }

  /** See GatewaySnapshot.disk. */
  diskListing(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [gwPath, upper] of Object.entries(this.state.disk)) {
      const walk = (rel: string) => {
        const full = path.join(upper, rel);
        for (const ent of fs.readdirSync(full).sort()) {
          const r = path.join(rel, ent);
          const p = path.join(upper, r);
          const gp = path.join(gwPath, r);
          const st = fs.lstatSync(p);
          const mode = (st.mode & 0o7777).toString(8).padStart(4, "0");
          if (st.isCharacterDevice() && st.rdev === 0) out[gp] = "whiteout";
          else if (st.isSymbolicLink()) out[gp] = `symlink -> ${fs.readlinkSync(p)}`;
          else if (st.isDirectory()) {
            let host: fs.Stats | undefined;
            try {
              host = fs.lstatSync(gp);
            } catch {
              host = undefined;
            }
            if (!host || !host.isDirectory()) out[gp] = `dir ${mode}`;
            walk(r);
          } else if (st.isFile()) {
            const sha = createHash("sha256").update(fs.readFileSync(p)).digest("hex").slice(0, 16);
            out[gp] = `file ${mode} ${st.size} sha256:${sha}`;
          } else out[gp] = `other ${mode}`;
        }
      };
      if (fs.existsSync(upper)) walk(".");
    }
    return out;
  }

  /**
   * Simulated reboot: kills everything in the gateway namespace, deletes it and
   * creates it again with the same interfaces and addresses, then starts sshd
   * on the same disk (overlay upper dirs) and host key. Runtime state
   * (routes, rules, nft, sysctls, tmpfs contents) is gone, like after a power cycle.
   */
  async reboot(): Promise<void> {
    const gw = this.ns.gw;
    this.log(`reboot: stopping everything in ${gw}`);
    await killPids(await netnsPids(gw), this.log);
    await run(["ip", "netns", "del", gw], { check: true });
    this.state.gwServerPid = undefined;
    // The kernel dismantles a deleted namespace asynchronously: wait until the
    // veth peers of its links are gone before creating them again.
    const peers: [Role, string][] = [["lan", "eth0"], ["m1", "lan"], ["m2", "lan"]];
    for (let i = 0; ; i++) {
      const left = [];
      for (const [role, dev] of peers) if ((await run(["ip", "-n", this.ns[role], "link", "show", "dev", dev])).code === 0) left.push(`${this.ns[role]} ${dev}`);
      if (!left.length) break;
      if (i >= 200) throw new Error(`lab ${this.name}: ${gw} was deleted but its links live on (${left.join(", ")}): something still holds the namespace`);
      await sleep(50);
    }
    this.log(`reboot: recreating ${gw}`);
    await createGateway(this.state);
    this.state.sshdPid = await startSshd(this.state, this.log);
    if (!(await waitBanner(this.sshPort, 10_000))) throw new Error(`lab ${this.name}: sshd did not come back after reboot (see ${this.dir}/logs/sshd.log)`);
    this.save();
    this.log("reboot: gateway is up");
  }

  /** Tears the lab down (see downLab). */
  async down(opts: DownOptions = {}): Promise<DownReport> {
    const r = await downLab(this.name, { keepState: opts.keepState ?? this.state.keepState, log: opts.log ?? this.log, baseDir: path.dirname(this.dir) });
    this.unguard();
    return r;
  }

  /** Human-readable summary (what `lab up` prints). */
  summary(): string {
    const s = this.state;
    return [
      `lab ${s.name} is up`,
      `  namespaces: ${ROLES.map((r) => s.namespaces[r]).join(" ")}`,
      `  state dir:  ${s.dir}${s.keepState ? " (kept on down)" : ""}`,
      `  gateway:    eth0 192.168.3.100/24, eth1 192.168.1.1/24 (isp1 via 192.168.1.254), eth2 192.168.2.1/24 (isp2 via 192.168.2.254)`,
      `  disk:       ${Object.entries(s.disk).map(([g, u]) => `${g} -> ${u}`).join(", ")}`,
      `  ssh relay:  127.0.0.1:${s.sshPort} -> ${s.namespaces.gw} 127.0.0.1:22 (relay pid ${s.relayPid}, sshd pid ${s.sshdPid})`,
      `  host key:   ${s.hostKeyLine}`,
      `  stack file: ${s.stackFile} (private key: ${s.privateKeyPath})`,
      `  ssh in:     ${s.sshCommand}`,
      `  run inside: ip netns exec ${s.namespaces.lan} <cmd>   (gateway with its disk: nsenter -t ${s.sshdPid} -m -n <cmd>)`,
      `  tear down:  npm run lab -- down ${s.name}`,
    ].join("\n");
  }

  private save(): void {
    writeFile(path.join(this.dir, "lab.json"), JSON.stringify(this.state, null, 2) + "\n", 0o600);
  }
}

// ---------------------------------------------------------------- setup steps

function spawnDaemon(dir: string, label: string, argv: string[]): number {
  fs.mkdirSync(path.join(dir, "logs"), { recursive: true });
  fs.mkdirSync(path.join(dir, "pids"), { recursive: true });
  const fd = fs.openSync(path.join(dir, "logs", `${label}.log`), "a");
  try {
    const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ["ignore", fd, fd] });
    child.on("error", () => undefined);
    child.unref();
    if (!child.pid) throw new Error(`could not start ${label}: ${argv.join(" ")}`);
    writeFile(path.join(dir, "pids", `${label}.pid`), `${child.pid}\n`);
    return child.pid;
  } finally {
    fs.closeSync(fd);
  }
}

/** Waits until something listens on TCP `port` in namespace `ns` (the daemon `label` with pid `pid`). */
async function waitListening(ns: string, dir: string, label: string, port: number, pid: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await run(["ip", "netns", "exec", ns, "ss", "-Hltn", `sport = :${port}`]);
    if (r.stdout.trim()) return;
    if (!alive(pid)) break;
    await sleep(50);
  }
  throw new Error(`nothing listens on :${port} in ${ns} (see ${dir}/logs/${label}.log)`);
}

async function waitBanner(port: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await sshBanner(port, 1000)) return true;
    await sleep(50);
  }
  return false;
}

async function ipBatch(ns: string, lines: string[]): Promise<void> {
  await run(["ip", "-n", ns, "-batch", "-"], { input: lines.join("\n") + "\n", check: true });
}

async function sysctls(ns: string, kv: Record<string, string>): Promise<void> {
  await run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", ...Object.entries(kv).map(([k, v]) => `${k}=${v}`)], { check: true });
}

/** Creates <lab>-gw with its three links (peers in lan, m1, m2) and configures both ends. */
async function createGateway(s: LabState): Promise<void> {
  const n = s.namespaces;
  const T = TOPOLOGY;
  await run(["ip", "netns", "add", n.gw], { check: true });
  await ipBatch(n.gw, [
    "link set lo up",
    `link add eth0 type veth peer name eth0 netns ${n.lan}`,
    `link add eth1 type veth peer name lan netns ${n.m1}`,
    `link add eth2 type veth peer name lan netns ${n.m2}`,
    `addr add ${T.gw.lan.address} dev eth0`,
    `addr add ${T.gw.uplinks[0].address} dev eth1`,
    `addr add ${T.gw.uplinks[1].address} dev eth2`,
    "link set eth0 up",
    "link set eth1 up",
    "link set eth2 up",
  ]);
  await ipBatch(n.lan, [`addr add ${T.lanClient.address} dev eth0`, "link set eth0 up", `route add default via ${T.lanClient.gateway} dev eth0`]);
  await ipBatch(n.m1, [`addr add ${T.modems[1].lan} dev lan`, "link set lan up"]);
  await ipBatch(n.m2, [`addr add ${T.modems[2].lan} dev lan`, "link set lan up"]);
}

function modemNft(m: 1 | 2): string {
  const T = TOPOLOGY;
  return `table ip modem {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "wan" tcp dport ${T.modemForwardPort} dnat to ${T.modems[m].forwardTo}:${T.gatewayServerPort}
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" masquerade
  }
}
`;
}

const NET_NFT = `table ip internet {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    tcp dport != ${TOPOLOGY.whoamiPort} redirect to :${TOPOLOGY.whoamiPort}
  }
}
`;

function sshdConfig(s: LabState): string {
  return `# sshd of the multiwan lab ${s.name}: runs in ${s.namespaces.gw} in a private mount namespace
ListenAddress 127.0.0.1:22
HostKey ${path.join(s.dir, "ssh_host_ed25519_key")}
PidFile none
AuthorizedKeysFile ${path.join(s.dir, "authorized_keys")}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# The lab dir may sit under a world-writable folder such as /tmp (CI clones anywhere).
StrictModes no
PrintMotd no
PrintLastLog no
UseDNS no
Subsystem sftp internal-sftp
`;
}

/** The shell that turns the sshd's private mount namespace into the gateway's filesystem. */
function gatewayMountScript(s: LabState): string {
  const q = (p: string) => `'${p.replace(/'/g, `'\\''`)}'`;
  const lines = ["set -e"];
  for (const [gwPath, dirName] of Object.entries(OVERLAYS)) {
    const base = path.join(s.dir, "disk", dirName);
    lines.push(`mount -t overlay overlay -o lowerdir=${gwPath},upperdir=${base}/upper,workdir=${base}/work ${gwPath}`);
  }
  // Private copies of /run/netns/* would keep other labs' namespaces alive after
  // their `ip netns del`: drop them (this mount namespace is private).
  lines.push("umount -l /run/netns 2>/dev/null || true");
  // /run: sshd's privilege separation dir /run/sshd, without creating it on the host.
  lines.push("mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run", "mkdir -m 0755 /run/sshd");
  // The lab dir (sshd_config, keys, pid files) may sit under a folder that
  // gets a tmpfs below (a clone under /tmp, say): park it on /run first and
  // bind it back afterwards, so it stays visible and writable either way.
  lines.push(`mkdir /run/multiwan-lab && mount --bind ${q(s.dir)} /run/multiwan-lab`);
  lines.push("mount -t tmpfs -o mode=0700 tmpfs /root");
  for (const t of TMPFS.filter((t) => t !== "/root")) lines.push(`mount -t tmpfs -o mode=${t === "/var/log" ? "0755" : "1777"} tmpfs ${t}`);
  lines.push(`mkdir -p ${q(s.dir)} && mount --bind /run/multiwan-lab ${q(s.dir)} && umount /run/multiwan-lab && rmdir /run/multiwan-lab`);
  lines.push("touch /var/log/lastlog /var/log/wtmp /var/log/btmp /run/utmp");
  lines.push(`echo $$ > ${q(path.join(s.dir, "pids", "sshd-mountns.pid"))}`);
  // Everything outside the overlays and tmpfs is read-only for the gateway
  // (per-mount flag in this namespace only; the host's / stays read-write).
  lines.push("mount -o remount,bind,ro /");
  lines.push(`exec /usr/sbin/sshd -D -e -f ${q(path.join(s.dir, "sshd_config"))}`);
  return lines.join("\n");
}

async function startSshd(s: LabState, log: (m: string) => void): Promise<number> {
  for (const dirName of Object.values(OVERLAYS)) {
    const base = path.join(s.dir, "disk", dirName);
    fs.mkdirSync(path.join(base, "upper"), { recursive: true });
    fs.mkdirSync(path.join(base, "work"), { recursive: true });
  }
  // The gateway is a Debian box with ifupdown: its hook folder is on the disk
  // (the host has none), so link-up hooks can be installed and exercised.
  fs.mkdirSync(path.join(s.dir, "disk", "etc", "upper", "network", "if-up.d"), { recursive: true });
  log(`starting sshd in ${s.namespaces.gw} (private mount namespace: overlays ${Object.keys(OVERLAYS).join(", ")}; tmpfs /run ${TMPFS.join(" ")}; rest read-only)`);
  const pid = spawnDaemon(s.dir, "sshd", ["ip", "netns", "exec", s.namespaces.gw, "unshare", "-m", "--propagation", "private", "sh", "-c", gatewayMountScript(s)]);
  // `ip netns exec`, `unshare` and `sh` all exec: the pid we got becomes sshd.
  for (let i = 0; i < 100; i++) {
    if (!alive(pid)) break;
    let exe = "";
    try {
      exe = fs.readlinkSync(`/proc/${pid}/exe`);
    } catch {
      exe = "";
    }
    if (exe === "/usr/sbin/sshd" && (await sshdListening(s.namespaces.gw))) return pid;
    await sleep(20);
  }
  throw new Error(`lab ${s.name}: sshd did not start in ${s.namespaces.gw}: ${fs.readFileSync(path.join(s.dir, "logs", "sshd.log"), "utf8").trim().slice(-2000)}`);
}

async function sshdListening(ns: string): Promise<boolean> {
  const r = await run(["ip", "netns", "exec", ns, "ss", "-Hltn", "sport = :22"]);
  return r.stdout.trim() !== "";
}

async function startRelay(s: LabState, log: (m: string) => void): Promise<{ port: number; pid: number }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const pid = spawnDaemon(s.dir, "relay", [
      "socat",
      // nodelay: without TCP_NODELAY every small SSH write after an
      // unacknowledged one waits ~40 ms for a delayed ACK (bench/ measured 48 ms
      // per exec instead of 3 ms). A real gateway's sshd sets it itself.
      `TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr,nodelay`,
      `EXEC:ip netns exec ${s.namespaces.gw} socat STDIO TCP\\:127.0.0.1\\:22\\,nodelay`,
    ]);
    if (await waitBanner(port, 5000)) {
      log(`ssh relay 127.0.0.1:${port} -> ${s.namespaces.gw} 127.0.0.1:22 (pid ${pid})`);
      return { port, pid };
    }
    await killPids([pid], () => undefined);
    log(`relay on port ${port} did not answer, retrying`);
  }
  throw new Error(`lab ${s.name}: the ssh relay did not come up (see ${s.dir}/logs/relay.log and sshd.log)`);
}

function stackYaml(s: LabState): string {
  const site = {
    host: { address: "127.0.0.1", port: s.sshPort, user: "root", hostKey: s.hostKeyLine },
    lan: { interface: TOPOLOGY.gw.lan.interface, address: TOPOLOGY.gw.lan.address },
    uplinks: TOPOLOGY.gw.uplinks.map((u) => ({ ...u })),
    pinnedRoutes: [
      { destination: `${TOPOLOGY.pinned[0]}/32`, uplink: "isp2" },
      { destination: `${TOPOLOGY.pinned[1]}/32`, uplink: "isp1" },
    ],
    nat: { backend: s.nat },
  };
  return (
    `# Stack config of the multiwan lab ${s.name} (generated by lab/lab.ts; the site of design §4).\n` +
    `# The SSH private key is not here: set it as a secret from ${s.privateKeyPath}.\n` +
    yamlStringify({ config: { "multiwan:site": site } }, { lineWidth: 0 })
  );
}

// ---------------------------------------------------------------- up / open / down

/**
 * Synchronous `down` by name, for signal and exit handlers (runs the CLI in a
 * child process and waits for it).
 */
export function downLabSync(name: string, baseDir = defaultBaseDir()): { code: number | null; output: string } {
  if (!NAME_RE.test(name)) throw new Error(`not a lab name: ${JSON.stringify(name)}`);
  // Output is collected, not inherited: when `node --test` is interrupted its
  // parent exits first, and writing to the dead pipe would kill the teardown.
  const r = spawnSync(process.execPath, [CLI, "down", name], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, MULTIWAN_LAB_DIR: path.resolve(baseDir) },
    timeout: 60_000,
    encoding: "utf8",
  });
  return { code: r.status, output: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

/**
 * Makes this process remove lab `name` if it is interrupted (SIGINT, SIGTERM,
 * SIGHUP: then it exits 128+n) or exits while the lab is up. Returns the
 * function that removes the guard again.
 */
export function guardLab(name: string, baseDir = defaultBaseDir()): () => void {
  let active = true;
  const signals: [NodeJS.Signals, number][] = [["SIGINT", 2], ["SIGTERM", 15], ["SIGHUP", 1]];
  const onExit = (why: string) => {
    if (!active) return;
    active = false;
    const r = downLabSync(name, baseDir);
    try {
      // may fail (EPIPE) when whoever read our stderr is gone; the lab is down anyway
      fs.writeSync(2, `lab ${name}: ${why}: torn down (exit ${r.code})\n`);
    } catch {
      /* nobody listens */
    }
  };
  const exitHandler = () => onExit("process exit while the lab was up");
  const handlers = signals.map(([sig, n]) => {
    const h = () => {
      onExit(sig);
      process.exit(128 + n);
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  process.on("exit", exitHandler);
  return () => {
    active = false;
    for (const [sig, h] of handlers) process.removeListener(sig, h);
    process.removeListener("exit", exitHandler);
  };
}

/** Creates a lab; on any failure everything created so far is removed again. */
export async function labUp(opts: LabOptions = {}): Promise<Lab> {
  const name = opts.name ?? `mw${randomBytes(3).toString("hex")}`;
  if (!NAME_RE.test(name)) throw new Error(`lab name ${JSON.stringify(name)} must match ${NAME_RE}`);
  const log = opts.log ?? defaultLog(name);
  const baseDir = path.resolve(opts.baseDir ?? defaultBaseDir());
  const unguard = opts.guard ? guardLab(name, baseDir) : () => undefined;
  const dir = path.join(baseDir, name);
  const existing = (await listNetns()).filter((n) => n.startsWith(`${name}-`));
  if (existing.length) throw new Error(`lab ${name} already has namespaces (${existing.join(" ")}); run \`lab down ${name}\` first`);
  if (!fs.existsSync(AGENT)) throw new Error(`${AGENT} is missing: build first (npx tsc -b)`);

  const reuse = fs.existsSync(path.join(dir, "lab.json"));
  let keepState = opts.keepState;
  if (reuse && keepState === undefined) {
    try {
      keepState = (JSON.parse(fs.readFileSync(path.join(dir, "lab.json"), "utf8")) as LabState).keepState;
    } catch {
      keepState = undefined;
    }
  }
  fs.mkdirSync(baseDir, { recursive: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  fs.mkdirSync(path.join(dir, "pids"), { recursive: true });
  fs.mkdirSync(path.join(dir, "logs"), { recursive: true });
  log(`${reuse ? "restarting" : "creating"} lab in ${dir}`);

  const namespaces = Object.fromEntries(ROLES.map((r) => [r, `${name}-${r}`])) as Record<Role, string>;
  const s: LabState = {
    name,
    dir,
    createdAt: new Date().toISOString(),
    namespaces,
    sshPort: 0,
    sshdPid: 0,
    relayPid: 0,
    whoamiPid: 0,
    hostKeyLine: "",
    clientPublicKeyLine: "",
    privateKeyPath: path.join(dir, "id_ed25519"),
    knownHostsPath: path.join(dir, "known_hosts"),
    stackFile: path.join(dir, "Pulumi.lab.yaml"),
    sshCommand: "",
    keepState: keepState ?? false,
    nat: opts.nat ?? "nftables",
    disk: Object.fromEntries(Object.entries(OVERLAYS).map(([g, d]) => [g, path.join(dir, "disk", d, "upper")])),
    topology: TOPOLOGY,
  };
  const lab = new Lab(s, log);
  lab.unguard = unguard;
  try {
    // keys (kept when a kept lab is restarted)
    const hostKey = path.join(dir, "ssh_host_ed25519_key");
    if (!fs.existsSync(hostKey)) {
      await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", `${name}-gw host key`, "-f", hostKey], { check: true });
    }
    if (!fs.existsSync(s.privateKeyPath)) {
      await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", `${name} client`, "-f", s.privateKeyPath], { check: true });
    }
    s.hostKeyLine = readKeyLine(`${hostKey}.pub`);
    s.clientPublicKeyLine = readKeyLine(`${s.privateKeyPath}.pub`);
    writeFile(path.join(dir, "authorized_keys"), `${s.clientPublicKeyLine} ${name} client\n`, 0o600);
    writeFile(path.join(dir, "sshd_config"), sshdConfig(s), 0o600);
    log("generated keys and sshd_config");

    // namespaces and links
    for (const r of ROLES.filter((r) => r !== "gw")) await run(["ip", "netns", "add", namespaces[r]], { check: true });
    await ipBatch(namespaces.m1, ["link set lo up", `link add wan type veth peer name m1 netns ${namespaces.net}`]);
    await ipBatch(namespaces.m2, ["link set lo up", `link add wan type veth peer name m2 netns ${namespaces.net}`]);
    await ipBatch(namespaces.lan, ["link set lo up"]);
    await createGateway(s);
    for (const m of [1, 2] as const) {
      const M = TOPOLOGY.modems[m];
      await ipBatch(namespaces[`m${m}`], [`addr add ${M.wan} dev wan`, "link set wan up", `route add default via ${M.upstream} dev wan`]);
    }
    await ipBatch(namespaces.net, [
      "link set lo up",
      `addr add ${TOPOLOGY.modems[1].upstream}/24 dev m1`,
      `addr add ${TOPOLOGY.modems[2].upstream}/24 dev m2`,
      "link set m1 up",
      "link set m2 up",
      // on lo: this kernel has no dummy driver (no modules)
      ...[...TOPOLOGY.servers, ...TOPOLOGY.pinned].map((a) => `addr add ${a}/32 dev lo`),
    ]);
    log(`namespaces ${ROLES.map((r) => namespaces[r]).join(" ")} with their links and addresses`);

    for (const m of [1, 2] as const) {
      const ns = namespaces[`m${m}`];
      await sysctls(ns, { "net.ipv4.ip_forward": "1", "net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.default.rp_filter": "0", "net.ipv4.conf.lan.rp_filter": "0", "net.ipv4.conf.wan.rp_filter": "0" });
      await run(["ip", "netns", "exec", ns, "nft", "-f", "-"], { input: modemNft(m), check: true });
    }
    await sysctls(namespaces.net, { "net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.default.rp_filter": "0" });
    await run(["ip", "netns", "exec", namespaces.net, "nft", "-f", "-"], { input: NET_NFT, check: true });
    log("modems forward, masquerade out wan and forward wan:8080 to the gateway:80; the internet redirects every TCP port to whoami :7000");

    s.whoamiPid = spawnDaemon(dir, "whoami", ["ip", "netns", "exec", namespaces.net, process.execPath, AGENT, "whoami", "--lab", name, "--port", String(TOPOLOGY.whoamiPort)]);
    await waitListening(namespaces.net, dir, "whoami", TOPOLOGY.whoamiPort, s.whoamiPid);
    log(`whoami server on ${namespaces.net} :${TOPOLOGY.whoamiPort} (pid ${s.whoamiPid})`);

    s.sshdPid = await startSshd(s, log);
    const relay = await startRelay(s, log);
    s.sshPort = relay.port;
    s.relayPid = relay.pid;

    writeFile(s.knownHostsPath, `[127.0.0.1]:${s.sshPort} ${s.hostKeyLine}\n`);
    s.sshCommand = `ssh -F none -i ${s.privateKeyPath} -p ${s.sshPort} -o UserKnownHostsFile=${s.knownHostsPath} -o StrictHostKeyChecking=yes root@127.0.0.1`;
    writeFile(s.stackFile, stackYaml(s));
    writeFile(path.join(dir, "lab.json"), JSON.stringify(s, null, 2) + "\n", 0o600);
    log(`wrote ${s.stackFile} and lab.json; lab is up`);
    return lab;
  } catch (e) {
    log(`setup failed: ${e instanceof Error ? e.message : String(e)}; tearing down`);
    await downLab(name, { baseDir, keepState: reuse || s.keepState, log }).catch((e2: unknown) => log(`teardown after failure also failed: ${String(e2)}`));
    unguard();
    throw e;
  }
}

/** A Lab object for a running lab, from its lab.json. */
export function openLab(name: string, opts: { baseDir?: string; log?: (msg: string) => void } = {}): Lab {
  const file = path.join(path.resolve(opts.baseDir ?? defaultBaseDir()), name, "lab.json");
  const s = JSON.parse(fs.readFileSync(file, "utf8")) as LabState;
  return new Lab(s, opts.log);
}

async function netnsPids(ns: string): Promise<number[]> {
  const r = await run(["ip", "netns", "pids", ns]);
  return r.stdout
    .split(/\s+/)
    .filter((x) => /^\d+$/.test(x))
    .map(Number);
}

async function killPids(pids: number[], log: (m: string) => void): Promise<number[]> {
  const mine = ancestors();
  const targets = [...new Set(pids)].filter((p) => p > 1 && !mine.has(p) && alive(p));
  if (!targets.length) return [];
  for (const p of targets) {
    try {
      process.kill(p, "SIGTERM");
    } catch {
      /* gone */
    }
  }
  for (let i = 0; i < 40 && targets.some(alive); i++) await sleep(25);
  const stubborn = targets.filter(alive);
  for (const p of stubborn) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      /* gone */
    }
  }
  for (let i = 0; i < 40 && stubborn.some(alive); i++) await sleep(25);
  if (stubborn.length) log(`killed ${stubborn.length} process(es) with SIGKILL: ${stubborn.join(" ")}`);
  return targets;
}

/** Processes of lab `name`: pid files (if the pid still belongs to the lab), command lines, and everything in its namespaces. */
async function labPids(name: string, dir: string, namespaces: string[]): Promise<number[]> {
  const re = labProcessRe(name);
  const found = new Set<number>();
  const pidDir = path.join(dir, "pids");
  if (fs.existsSync(pidDir)) {
    for (const f of fs.readdirSync(pidDir)) {
      const pid = Number(fs.readFileSync(path.join(pidDir, f), "utf8").trim());
      if (pid > 1 && alive(pid) && re.test(cmdline(pid))) found.add(pid);
    }
  }
  for (const pid of allPids()) if (re.test(cmdline(pid))) found.add(pid);
  for (const ns of namespaces) for (const pid of await netnsPids(ns)) found.add(pid);
  const mine = ancestors();
  return [...found].filter((p) => !mine.has(p));
}

/** Mount entries anywhere (any process's mount namespace) that still mention the lab. */
function labMounts(name: string): string[] {
  const out: string[] = [];
  const needle = `/run/netns/${name}-`;
  for (const pid of allPids()) {
    let mi = "";
    try {
      mi = fs.readFileSync(`/proc/${pid}/mountinfo`, "utf8");
    } catch {
      continue;
    }
    for (const line of mi.split("\n")) {
      if (line.includes(needle) || line.includes(`/${name}/disk/`)) out.push(`pid ${pid}: ${line}`);
    }
  }
  return out;
}

/**
 * The state dir of lab `name`: under baseDir, or (a lab started from another
 * checkout) the directory of the sshd_config its running sshd was given.
 */
function locateDir(name: string, baseDir: string): string {
  const dflt = path.join(baseDir, name);
  if (fs.existsSync(dflt)) return dflt;
  const re = new RegExp(`-f (/\\S*/${escapeRe(name)})/sshd_config`);
  for (const pid of allPids()) {
    const m = re.exec(cmdline(pid));
    if (m && fs.existsSync(path.join(m[1], "lab.json"))) return m[1];
  }
  return dflt;
}

/**
 * Removes lab `name` with nothing but its name: kills its processes (pid
 * files, command lines naming it, everything inside its namespaces), deletes
 * its namespaces and any /etc/netns/<ns>, and removes its directory unless
 * keepState (or the lab was created with keepState). Works after a crash.
 */
export async function downLab(name: string, opts: DownOptions & { baseDir?: string } = {}): Promise<DownReport> {
  if (!NAME_RE.test(name)) throw new Error(`not a lab name: ${JSON.stringify(name)}`);
  const log = opts.log ?? defaultLog(name);
  const dir = locateDir(name, path.resolve(opts.baseDir ?? defaultBaseDir()));
  let keepState = opts.keepState;
  if (keepState === undefined) {
    try {
      keepState = (JSON.parse(fs.readFileSync(path.join(dir, "lab.json"), "utf8")) as LabState).keepState;
    } catch {
      keepState = false;
    }
  }
  const ours = (all: string[]) => all.filter((n) => ROLES.some((r) => n === `${name}-${r}`));
  const namespaces = ours(await listNetns());
  const killed: number[] = [];
  // The relay first (it would fork new children into the gateway), then the rest; twice to catch late forks.
  for (let round = 0; round < 3; round++) {
    const pids = await labPids(name, dir, namespaces);
    if (!pids.length) break;
    const relay = pids.filter((p) => cmdline(p).startsWith("socat TCP-LISTEN"));
    killed.push(...(await killPids(relay, log)));
    killed.push(...(await killPids(pids.filter((p) => !relay.includes(p)), log)));
  }
  if (killed.length) log(`stopped ${killed.length} process(es)`);
  for (const ns of namespaces) {
    const r = await run(["ip", "netns", "del", ns]);
    if (r.code !== 0) log(`ip netns del ${ns}: ${r.stderr.trim()}`);
    const etc = path.join("/etc/netns", ns);
    if (fs.existsSync(etc)) {
      fs.rmSync(etc, { recursive: true, force: true });
      log(`removed ${etc}`);
    }
  }
  if (namespaces.length) log(`deleted namespaces ${namespaces.join(" ")}`);
  let removedDir = false;
  if (!keepState && fs.existsSync(dir)) {
    fs.rmSync(dir, { recursive: true, force: true });
    removedDir = true;
    log(`removed ${dir}`);
  } else if (fs.existsSync(dir)) {
    for (const f of ["pids"]) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
    log(`kept ${dir} (its disk, keys and logs); \`lab down ${name} --purge\` removes it`);
  }
  // the default base dir goes away with its last lab
  const base = path.dirname(dir);
  if (path.basename(base) === ".lab") {
    try {
      fs.rmdirSync(base);
    } catch {
      /* not empty, or another lab is starting */
    }
  }
  const leftovers = [
    ...ours(await listNetns()).map((n) => `namespace ${n}`),
    ...(await labPids(name, dir, [])).map((p) => `process ${p}: ${cmdline(p)}`),
    ...labMounts(name).map((m) => `mount ${m}`),
  ];
  for (const l of leftovers) log(`LEFTOVER ${l}`);
  return { name, namespaces, killed, removedDir, leftovers };
}

export interface LabStatus {
  name: string;
  dir?: string;
  namespaces: string[];
  sshPort?: number;
  sshdRunning: boolean;
  relayRunning: boolean;
  processes: number;
  keptState: boolean;
}

/** Every lab visible on this machine: namespaces, state directories and processes. */
export async function labStatus(baseDir = defaultBaseDir()): Promise<LabStatus[]> {
  const names = await findLabNames(baseDir);
  const netns = await listNetns();
  const out: LabStatus[] = [];
  for (const name of names) {
    const dir = path.join(path.resolve(baseDir), name);
    let s: LabState | undefined;
    try {
      s = JSON.parse(fs.readFileSync(path.join(dir, "lab.json"), "utf8")) as LabState;
    } catch {
      s = undefined;
    }
    const namespaces = netns.filter((n) => ROLES.some((r) => n === `${name}-${r}`));
    const re = labProcessRe(name);
    out.push({
      name,
      dir: fs.existsSync(dir) ? dir : undefined,
      namespaces,
      sshPort: s?.sshPort,
      sshdRunning: !!s && alive(s.sshdPid) && re.test(cmdline(s.sshdPid)),
      relayRunning: !!s && alive(s.relayPid) && re.test(cmdline(s.relayPid)),
      processes: (await labPids(name, dir, namespaces)).length,
      keptState: !!s?.keepState,
    });
  }
  return out;
}

/** Names of all labs: from namespaces, state directories and process command lines. */
export async function findLabNames(baseDir = defaultBaseDir()): Promise<string[]> {
  const names = new Set<string>();
  for (const n of await listNetns()) {
    const m = /^(mw[0-9a-z]{1,12})-(?:gw|m1|m2|net|lan)$/.exec(n);
    if (m) names.add(m[1]);
  }
  const base = path.resolve(baseDir);
  if (fs.existsSync(base)) for (const d of fs.readdirSync(base)) if (NAME_RE.test(d)) names.add(d);
  const mine = ancestors();
  for (const pid of allPids()) {
    if (mine.has(pid)) continue;
    const m = ANY_LAB_PROCESS_RE.exec(cmdline(pid));
    if (m) names.add((m[1] ?? m[2] ?? m[3])!);
  }
  return [...names].sort();
}
