// The lab itself (lab/lab.ts): topology, SSH with the pinned host key, the
// gateway's overlay disk, traffic tools, snapshot, reboot and a teardown that
// leaves nothing behind. Needs root (network namespaces); about 15-25 s.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { Client } from "ssh2";
import { downLab, findLabNames, guardLab, type Lab, labUp, run, SEEN_VIA, TOPOLOGY } from "../../lab/lab";

let lab: Lab | undefined;
const hadSshDir = fs.existsSync(`${process.env.HOME ?? "/root"}/.ssh`);
const log = (msg: string) => process.stderr.write(`# ${msg}\n`);

function need(): Lab {
  assert.ok(lab, "the lab is not up (see the before hook's error)");
  return lab;
}

async function hostNetns(): Promise<string[]> {
  return (await run(["ip", "netns", "list"])).stdout
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter((s) => s);
}

function processesMentioning(name: string): string[] {
  const out: string[] = [];
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    let cmd = "";
    try {
      cmd = fs.readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0").join(" ");
    } catch {
      continue;
    }
    if (cmd.includes(name)) out.push(`${d}: ${cmd}`);
  }
  return out;
}

function mountsMentioning(name: string): string[] {
  const out: string[] = [];
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      for (const l of fs.readFileSync(`/proc/${d}/mountinfo`, "utf8").split("\n")) if (l.includes(name)) out.push(`${d}: ${l}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

async function assertGone(name: string, dir: string): Promise<void> {
  assert.deepEqual(
    (await hostNetns()).filter((n) => n.startsWith(`${name}-`)),
    [],
    "namespaces left",
  );
  assert.deepEqual(processesMentioning(name), [], "processes left");
  assert.deepEqual(mountsMentioning(name), [], "mounts left (in any mount namespace)");
  assert.equal(fs.existsSync(dir), false, `${dir} left`);
  for (const r of ["gw", "m1", "m2", "net", "lan"]) assert.equal(fs.existsSync(`/etc/netns/${name}-${r}`), false);
}

before(async () => {
  // guard: Ctrl-C makes `node --test` SIGTERM this process, which skips `after`
  lab = await labUp({ log, guard: true });
});

after(async () => {
  const l = lab;
  lab = undefined;
  if (l) await l.down();
});

test("ssh reaches the gateway with the pinned host key; interfaces carry the topology's addresses", async () => {
  const l = need();
  const r = await l.ssh("ip -br -4 addr", { check: true });
  const addrs = Object.fromEntries(
    r.stdout
      .trim()
      .split("\n")
      .map((line) => {
        const f = line.split(/\s+/);
        return [f[0].split("@")[0], f.slice(2).join(" ").trim()];
      }),
  );
  assert.equal(addrs.eth0, "192.168.3.100/24");
  assert.equal(addrs.eth1, "192.168.1.1/24");
  assert.equal(addrs.eth2, "192.168.2.1/24");
  assert.match(l.hostKeyLine, /^ssh-ed25519 AAAA[0-9A-Za-z+/=]+$/);

  // a different key in known_hosts: the client refuses
  const wrong = path.join(l.dir, "known_hosts.wrong");
  const clientPub = fs.readFileSync(`${l.privateKeyPath}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
  fs.writeFileSync(wrong, `[127.0.0.1]:${l.sshPort} ${clientPub}\n`);
  const argv = l.sshArgs("true").map((a) => (a === `UserKnownHostsFile=${l.knownHostsPath}` ? `UserKnownHostsFile=${wrong}` : a));
  const bad = await run(argv);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /host key|REMOTE HOST IDENTIFICATION HAS CHANGED/i);
  assert.equal(fs.existsSync(`${process.env.HOME ?? "/root"}/.ssh`), hadSshDir, "ssh -F none does not create ~/.ssh");
});

test("ssh2 (what the provider uses) verifies the lab's host key and runs parallel sessions", async () => {
  const l = need();
  const expected = Buffer.from(l.hostKeyLine.split(" ")[1], "base64");
  const conn = new Client();
  let presented: Buffer | undefined;
  await new Promise<void>((resolve, reject) => {
    conn.on("ready", resolve).on("error", reject);
    conn.connect({
      host: "127.0.0.1",
      port: l.sshPort,
      username: "root",
      privateKey: fs.readFileSync(l.privateKeyPath),
      hostVerifier: (key: Buffer) => {
        presented = key;
        return key.equals(expected);
      },
      readyTimeout: 10_000,
    });
  });
  try {
    assert.ok(presented?.equals(expected));
    const execOne = (cmd: string) =>
      new Promise<string>((resolve, reject) => {
        conn.exec(cmd, (err, ch) => {
          if (err) return reject(err);
          let out = "";
          ch.on("data", (d: Buffer) => (out += d.toString()));
          ch.stderr.on("data", () => undefined);
          ch.on("close", () => resolve(out));
        });
      });
    const outs = await Promise.all(Array.from({ length: 8 }, (_, i) => execOne(`echo ${i} $HOME; ls -A $HOME | wc -l`)));
    outs.forEach((o, i) => {
      assert.equal(o, `${i} /root\n0\n`, "sessions run as root with an empty tmpfs home");
    });
  } finally {
    conn.end();
  }
});

test("LAN client reaches the gateway; modems reach the internet (which sees their WAN address)", async () => {
  const l = need();
  await l.ensureGatewayServer();
  assert.deepEqual(await l.connect("lan", "192.168.3.100", TOPOLOGY.gatewayServerPort), { ok: true, reply: "192.168.3.10" });
  assert.deepEqual(await l.connect("m1", TOPOLOGY.servers[0], TOPOLOGY.whoamiPort), { ok: true, reply: SEEN_VIA.isp1 });
  assert.deepEqual(await l.connect("m2", TOPOLOGY.servers[59], TOPOLOGY.whoamiPort), { ok: true, reply: SEEN_VIA.isp2 });
  assert.deepEqual(await l.connect("m1", TOPOLOGY.pinned[0], 443), { ok: true, reply: SEEN_VIA.isp1 }, "any port reaches whoami");
  // modems reach the gateway's uplink address; the gateway has no route beyond its links yet
  assert.equal((await l.connect("m1", "192.168.1.1", 80)).ok, true);
  assert.equal((await l.connect("lan", TOPOLOGY.servers[0], TOPOLOGY.whoamiPort, 500)).ok, false);
  assert.equal(await l.inbound(1, TOPOLOGY.pinned[0], 500), false, "no route back from the gateway yet");
});

test("the gateway's disk is the lab's overlay: /etc, /var/lib, /usr/local writes land in upper dirs, never on the host", async () => {
  const l = need();
  assert.equal(fs.existsSync("/etc/multiwan"), false, "precondition: no /etc/multiwan on the host");
  // A new gateway's disk holds only what the lab gives every gateway: ifupdown's hook folder.
  const fresh = l.diskListing();
  assert.deepEqual(fresh, { "/etc/network": "dir 0755", "/etc/network/if-up.d": "dir 0755" });
  const w = await l.ssh(
    "set -e; mkdir -p /etc/multiwan /var/lib/multiwan && echo probe > /etc/multiwan/probe && echo state > /var/lib/multiwan/state" +
      " && echo '200 mwlabtest' > /etc/iproute2/rt_tables.d/mwlabtest.conf && ip route add 10.99.0.0/24 dev eth0 table mwlabtest && ip route show table mwlabtest",
    { check: true },
  );
  assert.match(w.stdout, /^10\.99\.0\.0\/24 dev eth0/m, "ip resolves table names from the overlay's rt_tables.d");
  assert.equal(fs.readFileSync(path.join(l.disk["/etc"], "multiwan/probe"), "utf8"), "probe\n");
  assert.equal(fs.readFileSync(path.join(l.disk["/var/lib"], "multiwan/state"), "utf8"), "state\n");
  assert.equal(fs.existsSync("/etc/multiwan"), false);
  assert.equal(fs.existsSync("/var/lib/multiwan"), false);
  assert.equal(fs.existsSync("/etc/iproute2/rt_tables.d/mwlabtest.conf"), false);
  // exec("gw") shares sshd's mount namespace; a plain `ip netns exec` does not
  assert.equal((await l.exec("gw", "cat /etc/multiwan/probe", { check: true })).stdout, "probe\n");
  assert.notEqual((await run(["ip", "netns", "exec", l.ns.gw, "cat", "/etc/multiwan/probe"])).code, 0);
  // everything else is read-only for the gateway
  const ro = await l.ssh(`touch /usr/bin/${l.name}-probe /opt/${l.name}-probe /work/${l.name}-probe`);
  assert.notEqual(ro.code, 0);
  assert.match(ro.stderr, /Read-only file system/);
  for (const p of [`/usr/bin/${l.name}-probe`, `/opt/${l.name}-probe`, `/work/${l.name}-probe`]) assert.equal(fs.existsSync(p), false);
  assert.equal(fs.existsSync("/run/sshd"), false, "sshd's privsep dir exists only inside the gateway");
  const disk = l.diskListing();
  assert.match(disk["/etc/multiwan/probe"], /^file 0644 6 sha256:/);
  assert.equal(disk["/etc/multiwan"], "dir 0755");
  assert.equal(disk["/etc/iproute2"], undefined, "copied-up directories that the host has are not listed");
  await l.ssh("ip route flush table mwlabtest; rm -r /etc/multiwan /var/lib/multiwan /etc/iproute2/rt_tables.d/mwlabtest.conf", {
    check: true,
  });
  assert.deepEqual(l.diskListing(), fresh);
});

test("a hand-made multipath default spreads LAN flows over both modems; snapshot shows it and its removal", async (t) => {
  const l = need();
  const before = await l.snapshot();
  assert.equal(before.sysctls["net.ipv4.ip_forward"], "0");
  assert.doesNotMatch(before.routes, /nexthop/);
  const setup = [
    "set -e",
    "sysctl -qw net.ipv4.ip_forward=1",
    "ip route add default nexthop via 192.168.1.254 dev eth1 nexthop via 192.168.2.254 dev eth2",
    "ip route add default via 192.168.1.254 dev eth1 table 101",
    "ip route add default via 192.168.2.254 dev eth2 table 102",
    "ip rule add pref 1001 from 192.168.1.1 lookup 101",
    "ip rule add pref 1002 from 192.168.2.1 lookup 102",
    'nft -f - <<\'EOF\'\ntable ip labsmoke {\n  chain post {\n    type nat hook postrouting priority srcnat;\n    oifname { "eth1", "eth2" } masquerade\n  }\n}\nEOF',
  ].join("\n");
  await l.exec("gw", setup, { check: true });

  const t0 = Date.now();
  const seen = await l.flows({ count: 600 });
  t.diagnostic(`600 flows in ${Date.now() - t0} ms: ${JSON.stringify(Object.fromEntries(seen))}`);
  assert.deepEqual([...seen.keys()].sort(), [SEEN_VIA.isp1, SEEN_VIA.isp2]);
  assert.equal(
    [...seen.values()].reduce((a, b) => a + b, 0),
    600,
  );
  const few = await l.flows({ count: 100, port: 443, targets: [TOPOLOGY.pinned[0]] });
  assert.equal(
    [...few.values()].reduce((a, b) => a + b, 0),
    100,
  );
  assert.equal(few.size, 1, "one destination, hash policy 0: one uplink");

  // inbound through each modem; the source rules send replies back the way they came
  assert.equal(await l.inbound(1, TOPOLOGY.pinned[0]), true);
  assert.equal(await l.inbound(2, TOPOLOGY.pinned[0]), true);
  assert.deepEqual(
    await l.inboundDetail(2, TOPOLOGY.servers[3]),
    { ok: true, reply: TOPOLOGY.servers[3] },
    "modems do not SNAT forwarded ports",
  );
  // pin the client to isp2: the source rule still answers via isp1 ...
  await l.exec("gw", `ip route add ${TOPOLOGY.pinned[0]}/32 via 192.168.2.254 dev eth2`, { check: true });
  assert.equal(await l.inbound(1, TOPOLOGY.pinned[0]), true);
  // ... without it the reply leaves via isp2, modem 2 masquerades it and the connection fails
  await l.exec("gw", "ip rule del pref 1001", { check: true });
  assert.equal(await l.inbound(1, TOPOLOGY.pinned[0], 1000), false);

  const during = await l.snapshot();
  assert.equal(during.sysctls["net.ipv4.ip_forward"], "1");
  assert.match(
    during.routes,
    /^default\s+nexthop via 192\.168\.1\.254 dev eth1 weight 1\s+nexthop via 192\.168\.2\.254 dev eth2 weight 1/m,
  );
  assert.match(during.rules, /^1002:\s+from 192\.168\.2\.1 lookup 102/m);
  assert.match(during.nft, /table ip labsmoke/);

  await l.exec(
    "gw",
    "set -e; nft delete table ip labsmoke; ip rule del pref 1002; ip route flush table 101; ip route flush table 102;" +
      ` ip route del ${TOPOLOGY.pinned[0]}/32; ip route del default; sysctl -qw net.ipv4.ip_forward=0`,
    { check: true },
  );
  assert.deepEqual(await l.snapshot(), before);
});

test("reboot keeps the disk and the host key, drops runtime state", async () => {
  const l = need();
  await l.ssh(
    "mkdir -p /etc/multiwan && echo boot > /etc/multiwan/probe && sysctl -qw net.ipv4.ip_forward=1 && ip route add 10.98.0.0/24 dev eth0 && echo x > /tmp/volatile",
    { check: true },
  );
  const oldPid = l.sshdPid;
  await l.reboot();
  assert.notEqual(l.sshdPid, oldPid);
  const r = await l.ssh(
    "cat /etc/multiwan/probe; sysctl -n net.ipv4.ip_forward; ip route show 10.98.0.0/24; ls /tmp/volatile 2>/dev/null | wc -l; ip -br -4 addr show eth1",
    { check: true },
  );
  assert.match(r.stdout, /^boot\n0\n0\neth1@\S+\s+UP\s+192\.168\.1\.1\/24\s*$/);
  await l.ensureGatewayServer();
  assert.deepEqual(
    await l.connect("lan", "192.168.3.100", TOPOLOGY.gatewayServerPort),
    { ok: true, reply: "192.168.3.10" },
    "LAN link is back",
  );
  assert.equal((await l.connect("m2", "192.168.2.1", 80)).ok, true, "modem links are back");
  await l.ssh("rm -r /etc/multiwan", { check: true });
});

test("down after a crash: a lab whose creator was SIGKILLed is found and removed by name alone", async () => {
  // a separate process brings a lab up and is killed without any teardown
  const script = `require(${JSON.stringify(path.join(__dirname, "..", "..", "lab", "lab.js"))}).labUp({log: () => {}}).then((l) => { process.stdout.write(l.name + "\\n"); setInterval(() => {}, 1000); })`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  const name = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("\n")) resolve(out.trim());
    });
    child.on("exit", (code) => reject(new Error(`lab child exited with ${code}`)));
  });
  child.kill("SIGKILL");
  const dir = path.join(path.dirname(need().dir), name);
  const unguard = guardLab(name);
  try {
    assert.ok((await findLabNames()).includes(name));
    assert.equal((await hostNetns()).filter((n) => n.startsWith(`${name}-`)).length, 5);
    assert.ok(processesMentioning(name).length >= 3, "relay, sshd and whoami outlive their creator");
  } finally {
    const r = await downLab(name, { log: () => undefined });
    unguard();
    assert.deepEqual(r.leftovers, []);
  }
  await assertGone(name, dir);
});

test("down removes namespaces, processes, mounts and files", async () => {
  const l = need();
  lab = undefined;
  const r = await l.down();
  assert.deepEqual(r.leftovers, []);
  assert.equal(r.namespaces.length, 5);
  await assertGone(l.name, l.dir);
  assert.equal(fs.existsSync("/etc/multiwan"), false);
  assert.equal(fs.existsSync("/run/sshd"), false);
});
