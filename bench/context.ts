// What every bench section gets: the lab, the stack, the options, a logger.
import type { Lab } from "../lab/lab";
import type { AnsiblePeer } from "./ansible";
import type { RawSite } from "./sites";
import type { BenchStack } from "./stack";

export interface Options {
  quick: boolean;
  runs: number;
  scaleRuns: number;
  scaleRoutes: number[];
  scaleUplinks: number;
  flows: number;
  splits: number[][];
  iperfSeconds: number;
  iperfRuns: number;
  /** Long-lived connections held across each weight change (marks section). */
  held: number;
  /** Weight changes the marks section measures, with and without connection marks. */
  markChanges: { from: number[]; to: number[] }[];
  sections: Set<"control" | "scale" | "data" | "breakdown" | "marks">;
  /** "auto": use when installed; "1": required; "0": never. */
  ansible: "auto" | "1" | "0";
  out: string;
  updateReadme: boolean;
  nat: "nftables" | "iptables";
}

/** How every method reaches the gateway's sshd: the lab's relay (same port for Pulumi, the floor and Ansible). */
export interface Gateway {
  port: number;
  knownHostsPath: string;
  /** argv of the OpenSSH client for the gateway (pinned host key, no ~/.ssh use). */
  sshArgs(...remote: string[]): string[];
}

export function labGateway(lab: Lab): Gateway {
  return {
    port: lab.sshPort,
    knownHostsPath: lab.knownHostsPath,
    sshArgs: (...remote) => [
      "ssh",
      "-F",
      "none",
      "-i",
      lab.privateKeyPath,
      "-p",
      String(lab.sshPort),
      "-o",
      `UserKnownHostsFile=${lab.knownHostsPath}`,
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
    ],
  };
}

export interface Ctx {
  lab: Lab;
  gw: Gateway;
  stack: BenchStack;
  opts: Options;
  /** The lab's home site (its stack file's gateway:site). */
  home: RawSite;
  ansible?: AnsiblePeer;
  log: (msg: string) => void;
}
