// A running lab as tests see it (class Lab): connection details, commands in
// its namespaces and over SSH, traffic, snapshots, a simulated reboot and
// down(). Made by labUp() or openLab() (./up.ts).
import fs from "node:fs";
import * as path from "node:path";
import { run, type RunOptions, type RunResult } from "../support/proc";
import { alive, cmdline, descendants, killPids, labProcessRe, netnsPids, sleep } from "./processes";
import { diskListing, KERNEL_STATE_SCRIPT, parseKernelState, type GatewaySnapshot } from "./snapshot";
import { startRelay, startSshd, waitBanner } from "./sshd";
import { defaultLog, saveLabState, type LabState } from "./state";
import { DHCP_UNIT_FILE } from "../lib/render/dhcp";
import { HEALTH_UNIT_FILE } from "../lib/render/health";
import { startSupervisor, supervisorLog } from "./supervisor";
import { downLab, type DownOptions, type DownReport } from "./teardown";
import { createGateway, ROLES, TOPOLOGY, type Role } from "./topology";
import {
  connect,
  flows,
  hold,
  inbound,
  startServer,
  startWhoami,
  type FlowOptions,
  type HeldConnections,
  type HoldOptions,
  type InboundResult,
} from "./traffic";

export type ExecOptions = Pick<RunOptions, "input" | "timeoutMs" | "check">;
export type ExecResult = RunResult;

const HEALTH_SUPERVISOR = "gw-health-supervisor";
const DHCP_SUPERVISOR = "gw-dhcp-supervisor";

/** What exec() and ssh() allow a command unless told otherwise. */
const COMMAND_TIMEOUT_MS = 30_000;

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
  /** The loopback relay's listener (each connection is served by a child of it). */
  get relayPid(): number {
    return this.state.relayPid;
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
  /** <dir>/Pulumi.lab.yaml: `gateway:site` for this lab (without the private key). */
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
  /** The provider's connection to the gateway (provider/ssh.ts Connection), its private key read. */
  providerConnection(): { address: string; port: number; user: string; hostKey: string; privateKey: string } {
    return {
      address: "127.0.0.1",
      port: this.sshPort,
      user: "root",
      hostKey: this.hostKeyLine,
      privateKey: fs.readFileSync(this.privateKeyPath, "utf8"),
    };
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
      "ssh",
      "-F",
      "none",
      "-i",
      this.privateKeyPath,
      "-p",
      String(this.sshPort),
      "-o",
      `UserKnownHostsFile=${this.knownHostsPath}`,
      "-o",
      "GlobalKnownHostsFile=/dev/null",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      "LogLevel=ERROR",
      "root@127.0.0.1",
      ...remote,
    ];
  }

  /** Runs a command on the gateway over SSH (one connection per call). */
  ssh(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return run(this.sshArgs(command), { timeoutMs: COMMAND_TIMEOUT_MS, ...opts });
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
        return Promise.reject(
          new Error(`lab ${this.name}: the gateway's sshd (pid ${this.state.sshdPid}) is not running; its mount namespace is gone`),
        );
      }
      return run(["nsenter", "-t", String(this.state.sshdPid), "-m", "-n", "--", ...argv], { timeoutMs: COMMAND_TIMEOUT_MS, ...opts });
    }
    return run(["ip", "netns", "exec", this.ns[role], ...argv], { timeoutMs: COMMAND_TIMEOUT_MS, ...opts });
  }

  /** See traffic.ts flows(): LAN flows tallied by the source address the internet saw. */
  flows(opts: FlowOptions): Promise<Map<string, number>> {
    return flows(this, opts);
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
    return inbound(this, viaModem, fromAddress, timeoutMs);
  }

  /** One TCP connection from a namespace (no ping on these machines). */
  connect(role: Role, host: string, port: number, timeoutMs = 2000, bind?: string): Promise<InboundResult> {
    return connect(this, role, host, port, timeoutMs, bind);
  }

  /** See traffic.ts hold(): long-lived LAN connections to the internet's echo server. */
  hold(opts: HoldOptions): Promise<HeldConnections> {
    return hold(this, opts);
  }

  /** Starts a test server in one of the lab's namespaces (stopped by teardown with everything in it). */
  startServer(role: Role, mode: "whoami" | "echo", port: number): Promise<number> {
    return startServer(this, `${role}-${mode}-${port}`, this.ns[role], mode, port);
  }

  /** Starts the gateway's TCP server on :80 (answers with the peer address) unless it runs. */
  async ensureGatewayServer(): Promise<void> {
    if (alive(this.state.gwServerPid) && labProcessRe(this.name).test(cmdline(this.state.gwServerPid!))) return;
    this.log(`starting the gateway's test server on :${TOPOLOGY.gatewayServerPort}`);
    this.state.gwServerPid = await startWhoami(this, "gw-server", this.ns.gw, TOPOLOGY.gatewayServerPort);
    this.save();
  }

  /**
   * Starts the lab's stand-in for systemd for the health monitor: it runs the
   * installed multiwan-health.service's ExecStart and restarts it when it
   * exits (see supervisor.ts). Stopped with everything else on down() or reboot().
   */
  superviseHealthMonitor(): number {
    return startSupervisor(this, HEALTH_SUPERVISOR, HEALTH_UNIT_FILE);
  }

  /** The health monitor's journal: everything it and its supervisor printed. */
  healthJournal(): string {
    return supervisorLog(this, HEALTH_SUPERVISOR);
  }

  /** The same stand-in for multiwan-dhcp.service, the DHCP lease watcher (issue 20). */
  superviseLeaseWatcher(): number {
    return startSupervisor(this, DHCP_SUPERVISOR, DHCP_UNIT_FILE);
  }

  /** The lease watcher's journal. */
  leaseJournal(): string {
    return supervisorLog(this, DHCP_SUPERVISOR);
  }

  /** The gateway's kernel state and disk, for before/after comparisons. */
  async snapshot(): Promise<GatewaySnapshot> {
    const r = await this.exec("gw", KERNEL_STATE_SCRIPT, { check: true });
    return { ...parseKernelState(r.stdout), disk: this.diskListing() };
  }

  /** See GatewaySnapshot.disk. */
  diskListing(): Record<string, string> {
    return diskListing(this.state.disk);
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
    const peers: [Role, string][] = [
      ["lan", "eth0"],
      ["m1", "lan"],
      ["m2", "lan"],
    ];
    for (let i = 0; ; i++) {
      const left = [];
      for (const [role, dev] of peers)
        if ((await run(["ip", "-n", this.ns[role], "link", "show", "dev", dev])).code === 0) left.push(`${this.ns[role]} ${dev}`);
      if (!left.length) break;
      if (i >= 200)
        throw new Error(
          `lab ${this.name}: ${gw} was deleted but its links live on (${left.join(", ")}): something still holds the namespace`,
        );
      await sleep(50);
    }
    this.log(`reboot: recreating ${gw}`);
    await createGateway(this.ns);
    this.state.sshdPid = await startSshd(this.state, this.log);
    if (!(await waitBanner(this.sshPort, 10_000)))
      throw new Error(`lab ${this.name}: sshd did not come back after reboot (see ${this.dir}/logs/sshd.log)`);
    this.save();
    this.log("reboot: gateway is up");
  }

  /**
   * Cuts the SSH path: the host's relay and every connection through it are
   * killed (SIGKILL), so the provider's connection drops mid-run and new ones
   * are refused, until restoreRelay().
   */
  async cutRelay(): Promise<void> {
    const pid = this.state.relayPid;
    const pids = alive(pid) ? [pid, ...descendants(pid)] : [];
    for (const p of pids) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    for (let i = 0; i < 100 && pids.some(alive); i++) await sleep(10);
    this.log(`ssh relay cut (killed ${pids.length} process(es))`);
  }

  /** Starts the relay again on the same port after cutRelay(). */
  async restoreRelay(): Promise<void> {
    if (alive(this.state.relayPid) && labProcessRe(this.name).test(cmdline(this.state.relayPid))) return;
    const relay = await startRelay(this.state, this.log, this.sshPort);
    this.state.relayPid = relay.pid;
    this.save();
  }

  /** Tears the lab down (see downLab). */
  async down(opts: DownOptions = {}): Promise<DownReport> {
    const r = await downLab(this.name, {
      keepState: opts.keepState ?? this.state.keepState,
      log: opts.log ?? this.log,
      baseDir: path.dirname(this.dir),
    });
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
      `  disk:       ${Object.entries(s.disk)
        .map(([g, u]) => `${g} -> ${u}`)
        .join(", ")}`,
      `  ssh relay:  127.0.0.1:${s.sshPort} -> ${s.namespaces.gw} 127.0.0.1:22 (relay pid ${s.relayPid}, sshd pid ${s.sshdPid})`,
      `  host key:   ${s.hostKeyLine}`,
      `  stack file: ${s.stackFile} (private key: ${s.privateKeyPath})`,
      `  ssh in:     ${s.sshCommand}`,
      `  run inside: ip netns exec ${s.namespaces.lan} <cmd>   (gateway with its disk: nsenter -t ${s.sshdPid} -m -n <cmd>)`,
      `  tear down:  npm run lab -- down ${s.name}`,
    ].join("\n");
  }

  private save(): void {
    saveLabState(this.state);
  }
}
