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
//
// This file is the lab's public API; the parts live beside it:
//   topology.ts   namespaces, links, addresses, modem NAT, the internet
//   state.ts      lab.json, the state dir and its default place
//   processes.ts  starting, finding and stopping the lab's daemons
//   sshd.ts       the gateway's sshd, its mount namespace, the loopback relay
//   traffic.ts    flows, inbound connections, probes (via agent.js)
//   snapshot.ts   the gateway's kernel state and disk, for comparisons
//   runningLab.ts class Lab
//   up.ts         labUp, openLab
//   teardown.ts   downLab, guardLab (signals and exit)
//   status.ts     labStatus, findLabNames (`lab status`)
export { run } from "../support/proc";
export { Lab, type ExecOptions, type ExecResult } from "./runningLab";
export type { GatewaySnapshot } from "./snapshot";
export { defaultBaseDir } from "./state";
export { findLabNames, labStatus, type LabStatus } from "./status";
export { downLab, downLabSync, guardLab, type DownOptions, type DownReport } from "./teardown";
export { NAME_RE, ROLES, SEEN_VIA, TOPOLOGY, type Role } from "./topology";
export type { FlowOptions, InboundResult } from "./traffic";
export { labUp, openLab, type LabOptions } from "./up";
