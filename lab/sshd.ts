// The gateway's sshd and how the host reaches it. sshd runs in <lab>-gw in a
// private mount namespace whose /etc, /var/lib and /usr/local are overlays
// (the gateway's disk), with tmpfs over /root, /run and the scratch dirs and
// everything else read-only, so nothing the tool writes can land on the host
// (design §6). The host reaches it through a socat relay on its loopback:
// no address or route is added to the host's network.
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { run } from "../support/proc";
import { alive, killPids, sleep, spawnDaemon } from "./processes";
import { OVERLAYS, TMPFS, type LabState } from "./state";

export function sshdConfig(s: LabState): string {
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

export async function startSshd(s: LabState, log: (m: string) => void): Promise<number> {
  for (const dirName of Object.values(OVERLAYS)) {
    const base = path.join(s.dir, "disk", dirName);
    fs.mkdirSync(path.join(base, "upper"), { recursive: true });
    fs.mkdirSync(path.join(base, "work"), { recursive: true });
  }
  // The gateway is a Debian box with ifupdown: its hook folder is on the disk
  // (the host has none), so link-up hooks can be installed and exercised.
  fs.mkdirSync(path.join(s.dir, "disk", "etc", "upper", "network", "if-up.d"), { recursive: true });
  log(
    `starting sshd in ${s.namespaces.gw} (private mount namespace: overlays ${Object.keys(OVERLAYS).join(", ")}; tmpfs /run ${TMPFS.join(" ")}; rest read-only)`,
  );
  const pid = spawnDaemon(s.dir, "sshd", [
    "ip",
    "netns",
    "exec",
    s.namespaces.gw,
    "unshare",
    "-m",
    "--propagation",
    "private",
    "sh",
    "-c",
    gatewayMountScript(s),
  ]);
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
  throw new Error(
    `lab ${s.name}: sshd did not start in ${s.namespaces.gw}: ${fs
      .readFileSync(path.join(s.dir, "logs", "sshd.log"), "utf8")
      .trim()
      .slice(-2000)}`,
  );
}

async function sshdListening(ns: string): Promise<boolean> {
  const r = await run(["ip", "netns", "exec", ns, "ss", "-Hltn", "sport = :22"]);
  return r.stdout.trim() !== "";
}

/** Starts the relay on a free port, or on `fixedPort` (a relay started again after a cut, lab/faults.ts). */
export async function startRelay(s: LabState, log: (m: string) => void, fixedPort?: number): Promise<{ port: number; pid: number }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = fixedPort ?? (await freePort());
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

/** Polls until 127.0.0.1:port answers with an SSH banner or `timeoutMs` passes. */
export async function waitBanner(port: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await sshBanner(port, 1000)) return true;
    await sleep(50);
  }
  return false;
}
