// Bringing a lab up (labUp) and attaching to one that runs (openLab). A lab
// that fails halfway is torn down again before the error reaches the caller.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { stringify as yamlStringify } from "yaml";
import { run } from "../support/proc";
import { listNetns } from "./processes";
import { Lab } from "./runningLab";
import { sshdConfig, startRelay, startSshd } from "./sshd";
import { AGENT, defaultBaseDir, defaultLog, OVERLAYS, readKeyLine, readLabState, saveLabState, writeFile, type LabState } from "./state";
import { downLab, guardLab } from "./teardown";
import { createNetwork, NAME_RE, namespacesOf, TOPOLOGY } from "./topology";
import { startWhoami } from "./traffic";

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
  const keepState = opts.keepState ?? (reuse ? readLabState(dir)?.keepState : undefined);
  fs.mkdirSync(baseDir, { recursive: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  fs.mkdirSync(path.join(dir, "pids"), { recursive: true });
  fs.mkdirSync(path.join(dir, "logs"), { recursive: true });
  log(`${reuse ? "restarting" : "creating"} lab in ${dir}`);

  const namespaces = namespacesOf(name);
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

    await createNetwork(namespaces);
    log(`namespaces ${Object.values(namespaces).join(" ")} with their links and addresses`);
    log("modems forward, masquerade out wan and forward wan:8080 to the gateway:80; the internet redirects every TCP port to whoami :7000");

    s.whoamiPid = await startWhoami(s, "whoami", namespaces.net, TOPOLOGY.whoamiPort);
    log(`whoami server on ${namespaces.net} :${TOPOLOGY.whoamiPort} (pid ${s.whoamiPid})`);

    s.sshdPid = await startSshd(s, log);
    const relay = await startRelay(s, log);
    s.sshPort = relay.port;
    s.relayPid = relay.pid;

    writeFile(s.knownHostsPath, `[127.0.0.1]:${s.sshPort} ${s.hostKeyLine}\n`);
    s.sshCommand = `ssh -F none -i ${s.privateKeyPath} -p ${s.sshPort} -o UserKnownHostsFile=${s.knownHostsPath} -o StrictHostKeyChecking=yes root@127.0.0.1`;
    writeFile(s.stackFile, stackYaml(s));
    saveLabState(s);
    log(`wrote ${s.stackFile} and lab.json; lab is up`);
    return lab;
  } catch (e) {
    log(`setup failed: ${e instanceof Error ? e.message : String(e)}; tearing down`);
    await downLab(name, { baseDir, keepState: reuse || s.keepState, log }).catch((e2: unknown) =>
      log(`teardown after failure also failed: ${String(e2)}`),
    );
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
    `# Stack config of the multiwan lab ${s.name} (generated by lab/up.ts; the site of design §4).\n` +
    `# The SSH private key is not here: set it as a secret from ${s.privateKeyPath}.\n` +
    yamlStringify({ config: { "gateway:site": site } }, { lineWidth: 0 })
  );
}
