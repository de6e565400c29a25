// Traffic through the lab: TCP flows from the LAN client, connections into
// the gateway through a modem's port forward, single probes. The work is
// done by agent.js inside the namespaces (no ping on these machines); these
// functions start it and read its JSON answer.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { RunOptions, RunResult } from "../support/proc";
import { spawnDaemon, waitListening } from "./processes";
import { AGENT } from "./state";
import { TOPOLOGY, type Role } from "./topology";

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

/** What traffic needs of a lab: its name (agents carry it for teardown) and a way to run argv in a namespace. */
export interface TrafficLab {
  readonly name: string;
  exec(role: Role, cmd: readonly string[], opts?: Pick<RunOptions, "check" | "timeoutMs">): Promise<RunResult>;
}

/**
 * Opens `count` TCP connections from the LAN client, round-robin over the
 * targets, and tallies what the internet's whoami server saw as their
 * source: "198.18.1.2" = left via isp1, "198.18.2.2" = via isp2 (SEEN_VIA).
 * Failed connections are counted under "error:<code>" (e.g. error:ENETUNREACH).
 */
export async function flows(lab: TrafficLab, opts: FlowOptions): Promise<Map<string, number>> {
  const spec = {
    targets: [...(opts.targets ?? TOPOLOGY.servers)],
    count: opts.count,
    port: opts.port ?? TOPOLOGY.whoamiPort,
    timeoutMs: opts.timeoutMs ?? 2000,
    concurrency: opts.concurrency ?? 64,
  };
  const r = await lab.exec("lan", [process.execPath, AGENT, "flows", "--lab", lab.name, "--spec", JSON.stringify(spec)], {
    check: true,
    timeoutMs: 60_000 + spec.timeoutMs * Math.ceil(spec.count / spec.concurrency),
  });
  const out = JSON.parse(r.stdout) as { tally: Record<string, number>; ms: number };
  return new Map(Object.entries(out.tally).sort((a, b) => a[0].localeCompare(b[0])));
}

/**
 * From the internet namespace, binds `fromAddress` and connects to modem N's
 * WAN address :8080, which the modem forwards to the gateway's uplink address
 * :80 (the gateway's server must be running: see startGatewayServer).
 */
export async function inbound(lab: TrafficLab, viaModem: 1 | 2, fromAddress: string, timeoutMs: number): Promise<InboundResult> {
  const wan = TOPOLOGY.modems[viaModem].wan.split("/")[0];
  return connect(lab, "net", wan, TOPOLOGY.modemForwardPort, timeoutMs, fromAddress);
}

/** One TCP connection from a namespace. */
export async function connect(
  lab: TrafficLab,
  role: Role,
  host: string,
  port: number,
  timeoutMs: number,
  bind?: string,
): Promise<InboundResult> {
  const argv = [
    process.execPath,
    AGENT,
    "connect",
    "--lab",
    lab.name,
    "--host",
    host,
    "--port",
    String(port),
    "--timeout",
    String(timeoutMs),
  ];
  if (bind) argv.push("--bind", bind);
  const r = await lab.exec(role, argv, { check: true, timeoutMs: timeoutMs + 30_000 });
  return JSON.parse(r.stdout) as InboundResult;
}

/** Starts a whoami server on `port` in namespace `ns` and waits until it listens; returns its pid. */
export function startWhoami(lab: { name: string; dir: string }, label: string, ns: string, port: number): Promise<number> {
  return startServer(lab, label, ns, "whoami", port);
}

/** Starts an agent server (whoami: answer and close; echo: answer every line, stay open) and waits until it listens. */
export async function startServer(
  lab: { name: string; dir: string },
  label: string,
  ns: string,
  mode: "whoami" | "echo",
  port: number,
): Promise<number> {
  const pid = spawnDaemon(lab.dir, label, [
    "ip",
    "netns",
    "exec",
    ns,
    process.execPath,
    AGENT,
    mode,
    "--lab",
    lab.name,
    "--port",
    String(port),
  ]);
  await waitListening(ns, lab.dir, label, port, pid);
  return pid;
}

export interface HoldOptions {
  count: number;
  /** The echo server's port in the internet namespace. */
  port: number;
  targets?: readonly string[];
  timeoutMs?: number;
}

/** Long-lived LAN connections: each answer is the peer address the server saw, or "error:<code>". */
export interface HeldConnections {
  /** The answers of the first round, asked right after connecting. */
  first: string[];
  /** Asks every connection again. */
  check(): Promise<string[]>;
  close(): Promise<void>;
}

/** Opens `count` connections from the LAN client to the internet's echo server and keeps them open. */
export async function hold(lab: { name: string; ns: Record<Role, string> }, opts: HoldOptions): Promise<HeldConnections> {
  const spec = { targets: [...(opts.targets ?? TOPOLOGY.servers)], count: opts.count, port: opts.port, timeoutMs: opts.timeoutMs ?? 3000 };
  const child = spawn(
    "ip",
    ["netns", "exec", lab.ns.lan, process.execPath, AGENT, "hold", "--lab", lab.name, "--spec", JSON.stringify(spec)],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const rounds = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<string[]> => {
    const line = await rounds.next();
    if (line.done) throw new Error("lab hold agent: ended before it answered");
    return (JSON.parse(line.value) as { answers: string[] }).answers;
  };
  const first = await next();
  return {
    first,
    check: async () => {
      child.stdin.write("check\n");
      return next();
    },
    close: async () => {
      child.stdin.end();
      if (child.exitCode === null) await new Promise((resolve) => child.once("exit", resolve));
    },
  };
}
