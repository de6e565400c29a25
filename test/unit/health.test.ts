// The health monitor without a gateway: its unit passes systemd's verifier,
// script and configuration pass shellcheck, and the script itself runs here
// against fake ping, ip and conntrack (on PATH, in a scratch directory), so
// its transitions, flap damping, last resort, hooks and journal lines are
// checked in a second, without root. The lab tests (test/lab/e2e/health.test.ts)
// do the same against real kernels.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { parseFacts } from "../../lib/facts/sections";
import type { HealthMonitorEntry } from "../../lib/plan";
import { parseHealth, parseState, expectedState } from "../../lib/render";
import { BOOT_RUNNER, UNIT_NAME } from "../../lib/render/boot";
import { HEALTH_EXEC_START, renderHealthConfig, renderHealthMonitor, renderHealthUnit } from "../../lib/render/health";
import { stackPlan } from "../support/fixtures";
import { requireTool } from "../support/tools";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mw-health-"));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

test("multiwan-health.service passes `systemd-analyze verify`, starts after the boot runner and always restarts", (t) => {
  const unit = renderHealthUnit();
  assert.match(unit, new RegExp(`^After=${UNIT_NAME.replace(".", "\\.")} `, "m"));
  assert.match(unit, /^Restart=always$/m);
  assert.match(unit, new RegExp(`^ExecStart=${HEALTH_EXEC_START}$`, "m"));
  assert.match(unit, /^WantedBy=multi-user\.target$/m);
  assert.ok(!unit.includes(BOOT_RUNNER), "it does not run the boot runner itself");
  if (!requireTool(t, "systemd-analyze", "systemd")) return;
  const file = path.join(scratch, "multiwan-health.service");
  fs.writeFileSync(file, unit);
  const r = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(
    r.stderr
      .split("\n")
      .filter((l) => l.includes("multiwan-health.service"))
      .join("\n"),
    "",
  );
});

test("the monitor and its configuration pass shellcheck", (t) => {
  if (!requireTool(t, "shellcheck", "shellcheck")) return;
  for (const site of ["home", "office"] as const) {
    const conf = path.join(scratch, `${site}.conf`);
    fs.writeFileSync(conf, renderHealthConfig(stackPlan(site).health!));
    const script = path.join(scratch, "health.sh");
    fs.writeFileSync(script, renderHealthMonitor());
    const r = spawnSync("shellcheck", ["-s", "sh", "-f", "gcc", script, conf], { encoding: "utf8" });
    assert.equal(r.stdout, "", `${site}: ${r.stdout}`);
  }
});

test("an outage is not drift: the route and pinned routes the monitor made read as the desired state; health says why", () => {
  const plan = stackPlan("home");
  const down = "@@ health\nisp2 down 1700000000\n";
  const onlyIsp1 = `@@ routes\n[{"dst":"default","gateway":"192.168.1.254","dev":"eth1","flags":[]}]\n@@ main-rule\n[]\n@@ multipath-rule\n[]\n${down}`;
  const state = parseState("MultipathDefaultRoute", plan.multipath, onlyIsp1);
  assert.ok(state.includes("route default nexthop via 192.168.1.254 dev eth1 weight 2 nexthop via 192.168.2.254 dev eth2 weight 1"));
  assert.deepEqual(parseHealth("MultipathDefaultRoute", plan.multipath, onlyIsp1), ["isp2 down since 2023-11-14T22:13:20Z"]);
  // The same route without the monitor's verdict is drift.
  const drift = parseState("MultipathDefaultRoute", plan.multipath, onlyIsp1.replace(down, ""));
  assert.ok(drift.includes("route default via 192.168.1.254 dev eth1"));
  // isp2's pinned route has fallback: the monitor took it out, which is not drift either.
  const pinned = plan.pinned[0];
  const outage = parseState("PinnedRoutes", pinned, `@@ routes\n[]\n${down}@@ boot-copy\n/etc/multiwan/apply.d/50-pinned-isp2.sh\n`);
  assert.deepEqual(outage, expectedState("PinnedRoutes", pinned));
  const missing = parseState("PinnedRoutes", pinned, "@@ routes\n[]\n@@ health\nisp2 up 1700000000\n");
  assert.ok(!missing.includes("route 174.143.119.91 via 192.168.2.254"), "with isp2 up, a missing pinned route is drift");
  assert.deepEqual(parseFacts("@@ health\n").get("health"), "");
});

// ---- the script itself, against fakes -------------------------------------

/** Fake ping: one line per 50 ms; "no answer yet" while <dir>/dead-<source> or <dir>/dead-<target> exists. */
const FAKE_PING = `#!/bin/sh
while [ $# -gt 1 ]; do case $1 in -I) src=$2; shift ;; esac; shift; done
dst=$1 seq=0
echo "PING $dst ($dst) from $src : 56(84) bytes of data."
while :; do
  seq=$((seq + 1))
  if [ -e "$FAKE/dead-$src" ] || [ -e "$FAKE/dead-$dst" ] || { [ -e "$FAKE/drop3-$dst" ] && [ $((seq % 3)) -eq 0 ]; }; then
    echo "no answer yet for icmp_seq=$seq"
  else
    echo "64 bytes from $dst: icmp_seq=$seq ttl=64 time=1.25 ms"
  fi
  sleep 0.05
done
`;
/** Fake ip and conntrack: log their arguments (a batch: each command of it); `ip route show` finds a multipath default. */
const FAKE_LOGGER = (name: string) => `#!/bin/sh
case "$*" in *"-batch -") cat >>"$FAKE/${name}.log"; exit 0 ;; esac
echo "$*" >>"$FAKE/${name}.log"
case "$*" in "route show"*) echo "default proto 77" ;; esac
exit 0
`;

describe("the monitor script against fake ping, ip and conntrack", { concurrency: false }, () => {
  const dir = path.join(scratch, "run-home");
  const bin = path.join(dir, "bin");
  const run = path.join(dir, "run");
  const hooks = path.join(dir, "hooks.d");
  const entry: HealthMonitorEntry = { ...stackPlan("home").health!, intervalMs: 100, downAfter: 3, upAfter: 5 };
  let child: ChildProcess;
  let stderr = "";

  const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "");
  const waitFor = async (what: string, ok: () => boolean, ms = 15_000) => {
    const end = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > end) assert.fail(`timed out waiting for ${what}\nstderr:\n${stderr}\nip.log:\n${read(path.join(dir, "ip.log"))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const state = (uplink: string) => read(path.join(run, "state", uplink)).split(" ")[0];
  const lines = (re: RegExp) => stderr.split("\n").filter((l) => re.test(l));

  test("starts: every uplink up, one probe per (uplink, target), health.json written", async () => {
    fs.mkdirSync(bin, { recursive: true });
    fs.mkdirSync(hooks);
    fs.writeFileSync(path.join(bin, "ping"), FAKE_PING, { mode: 0o755 });
    fs.writeFileSync(path.join(bin, "ip"), FAKE_LOGGER("ip"), { mode: 0o755 });
    fs.writeFileSync(path.join(bin, "conntrack"), FAKE_LOGGER("conntrack"), { mode: 0o755 });
    fs.writeFileSync(path.join(hooks, "10-record"), `#!/bin/sh\necho "$UPLINK $STATE" >>"$FAKE/hooks.log"\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(hooks, "20-not-executable"), '#!/bin/sh\necho never >>"$FAKE/hooks.log"\n', { mode: 0o644 });
    fs.writeFileSync(path.join(dir, "health.conf"), renderHealthConfig(entry));
    // MultipathDefaultRoute's file: the monitor takes the desired weights from it.
    fs.writeFileSync(path.join(dir, "weights.conf"), "# the desired weights\nisp1 2\nisp2 1\n");
    fs.writeFileSync(path.join(dir, "health.sh"), renderHealthMonitor());
    child = spawn("sh", [path.join(dir, "health.sh")], {
      env: {
        ...process.env,
        PATH: `${bin}:${process.env.PATH}`,
        FAKE: dir,
        MULTIWAN_HEALTH_CONF: path.join(dir, "health.conf"),
        MULTIWAN_WEIGHTS: path.join(dir, "weights.conf"),
        MULTIWAN_RUN: run,
        MULTIWAN_HOOKS: hooks,
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    await waitFor("health.json", () => read(path.join(run, "health.json")).includes('"rttMs":1.250'));
    const status = JSON.parse(read(path.join(run, "health.json")));
    assert.deepEqual(
      status.uplinks.map((u: any) => [u.name, u.state, u.lossPercent, u.rttMs, u.weight]),
      [
        ["isp1", "up", 0, 1.25, 2],
        ["isp2", "up", 0, 1.25, 1],
      ],
    );
    assert.equal(state("isp1"), "up");
    assert.equal(read(path.join(run, "health.probes")).trim().split("\n").length, 4, "2 uplinks x 2 targets");
    assert.equal(read(path.join(dir, "ip.log")), "", "no route is touched while all is well");
  });

  test("a target that drops 1 probe in 3 never takes its uplink down", async () => {
    fs.writeFileSync(path.join(dir, `drop3-${entry.uplinks[0].targets[0]}`), "");
    await new Promise((r) => setTimeout(r, 3000));
    fs.rmSync(path.join(dir, `drop3-${entry.uplinks[0].targets[0]}`));
    assert.equal(state("isp1"), "up");
    assert.equal(state("isp2"), "up");
    assert.equal(read(path.join(dir, "ip.log")), "");
  });

  test("isp2 dies: multipath over isp1 alone (its weight kept), its fallback pinned route moves, only its connections dropped", async () => {
    fs.writeFileSync(path.join(dir, "dead-192.168.2.1"), "");
    await waitFor("isp2 down", () => state("isp2") === "down");
    await waitFor("hook", () => read(path.join(dir, "hooks.log")).includes("isp2 down"));
    const ip = read(path.join(dir, "ip.log"));
    assert.ok(ip.includes("route replace default table 200 proto 77 nexthop via 192.168.1.254 dev eth1 weight 2\n"), ip);
    assert.ok(ip.includes("route del 174.143.119.91 table 200 proto 77 dev eth2"), ip);
    assert.equal(read(path.join(dir, "conntrack.log")), "-D --mark 0x200/0xff00\n");
    assert.equal(lines(/multiwan-health: isp2 down/).length, 1, "one journal line per transition");
    assert.equal(state("isp1"), "up");
    assert.equal(read(path.join(dir, "hooks.log")), "isp2 down\n", "only executables run");
  });

  test("every uplink dead: the route keeps them all", async () => {
    fs.writeFileSync(path.join(dir, "dead-192.168.1.1"), "");
    await waitFor("isp1 down", () => state("isp1") === "down");
    await waitFor("route", () =>
      read(path.join(dir, "ip.log")).includes(
        "route replace default table 200 proto 77 nexthop via 192.168.1.254 dev eth1 weight 2 nexthop via 192.168.2.254 dev eth2 weight 1\n",
      ),
    );
    // The journal line comes after the routes.
    await waitFor("journal", () => /isp1 down: /.test(stderr));
    assert.match(stderr, /isp1 down: .*multipath now over every uplink \(all are down: keeping them all\)/);
    assert.equal(read(path.join(dir, "conntrack.log")), "-D --mark 0x200/0xff00\n-D --mark 0x100/0xff00\n");
  });

  test("isp2 returns: after 5 answers it is back with its pinned route; isp1 still down", async () => {
    fs.rmSync(path.join(dir, "dead-192.168.2.1"));
    fs.writeFileSync(path.join(dir, "ip.log"), "");
    await waitFor("isp2 up", () => state("isp2") === "up");
    // The state file flips first; the routes follow, then the journal line.
    await waitFor("journal", () => /multiwan-health: isp2 up/.test(stderr));
    const ip = read(path.join(dir, "ip.log"));
    assert.ok(ip.includes("route replace default table 200 proto 77 nexthop via 192.168.2.254 dev eth2 weight 1\n"), ip);
    assert.ok(ip.includes("route replace 174.143.119.91 via 192.168.2.254 dev eth2 table 200 proto 77"), ip);
    assert.match(stderr, /multiwan-health: isp2 up: 5 answers in a row/);
    assert.equal(state("isp1"), "down");
  });

  test("killed and started again, it keeps its verdicts: isp1 stays down until it answers", async () => {
    const pid = Number(read(path.join(run, "health.pid")));
    const probes = read(path.join(run, "health.probes")).trim().split("\n").map(Number);
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    child = spawn("sh", [path.join(dir, "health.sh")], {
      env: {
        ...process.env,
        PATH: `${bin}:${process.env.PATH}`,
        FAKE: dir,
        MULTIWAN_HEALTH_CONF: path.join(dir, "health.conf"),
        MULTIWAN_WEIGHTS: path.join(dir, "weights.conf"),
        MULTIWAN_RUN: run,
        MULTIWAN_HOOKS: hooks,
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    await waitFor("new pid", () => Number(read(path.join(run, "health.pid"))) === child.pid);
    assert.notEqual(child.pid, pid);
    await waitFor("the old probes stopped", () => probes.every((p) => !alive(p)));
    assert.equal(state("isp1"), "down");
    fs.rmSync(path.join(dir, "dead-192.168.1.1"));
    await waitFor("isp1 up", () => state("isp1") === "up");
  });

  test("SIGTERM: it stops with its probes and leaves no pid file", async () => {
    const probes = read(path.join(run, "health.probes")).trim().split("\n").map(Number);
    child.kill("SIGTERM");
    const code = await new Promise((r) => child.once("exit", (c) => r(c)));
    assert.equal(code, 0);
    await waitFor("probes gone", () => probes.every((p) => !alive(p)));
    assert.ok(!fs.existsSync(path.join(run, "health.pid")));
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}
