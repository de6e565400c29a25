// Issue 8 on a real kernel: the applied gateway comes back by itself after a
// reboot and after a link flap. Namespaces have no systemd, so a reboot is
// simulated (lab.reboot(): the gateway namespace is deleted and recreated with
// the same links, its /etc and /var/lib overlay kept as its disk) and then we
// run exactly what the installed unit's ExecStart says.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { type GatewaySnapshot, type Lab, labUp } from "../../../lab/lab";
import { initLabStack } from "../../../lab/pulumiStack";
import { renderUnit } from "../../../lib/render/boot";
import { assertIsp1Share, assertRestored, ipv4Routes } from "../../support/gatewayState";
import { REPO_ROOT, type RunResult, assertSuccess, runPulumi } from "../../support/cli";

const routesOfTable = (snap: GatewaySnapshot, table: string) =>
  snap.routes
    .split("\n")
    .filter((l) => l.includes(` table ${table} `))
    .join("\n");

/** nft lists tables in creation order; the boot runner creates them one by one, pulumi in parallel. */
const nftTables = (s: GatewaySnapshot) =>
  s.nft
    .split(/\n(?=table )/)
    .map((t) => t.trim())
    .sort();
/** The kernel state multiwan owns, for before/after comparisons. */
const owned = (s: GatewaySnapshot) => ({ rules: s.rules, routes: ipv4Routes(s), nft: nftTables(s), sysctls: s.sysctls });

describe("the gateway survives a reboot and a link flap", { concurrency: false }, () => {
  let lab: Lab;
  let work: string;
  let pristine: GatewaySnapshot;
  let applied: GatewaySnapshot;
  let env: NodeJS.ProcessEnv;
  let stackArgs: string[];
  let deployed = false;
  const pulumi = (...args: string[]): Promise<RunResult> => runPulumi([...args, ...stackArgs], { cwd: REPO_ROOT, env, timeoutMs: 120_000 });

  before(async () => {
    lab = await labUp({ guard: true, log: () => {} });
    work = fs.mkdtempSync(path.join(os.tmpdir(), "mw-reboot-"));
    pristine = await lab.snapshot();
    ({ env, args: stackArgs } = initLabStack(lab.name, lab.stackFile, fs.readFileSync(lab.privateKeyPath, "utf8"), work));
    assertSuccess(await pulumi("up", "--yes", "--skip-preview"));
    deployed = true;
    applied = await lab.snapshot();
  });

  after(async () => {
    try {
      if (deployed) await pulumi("destroy", "--yes", "--skip-preview");
    } finally {
      await lab?.down();
      if (work) fs.rmSync(work, { recursive: true, force: true });
    }
  });

  test("up keeps a boot copy per resource and installs the runner, the unit and the ifupdown hook", async () => {
    const gw = async (cmd: string) => (await lab.exec("gw", cmd, { check: true })).stdout;
    assert.deepEqual((await gw("ls /etc/multiwan/apply.d")).trim().split("\n"), [
      "10-host.sh",
      "20-table-isp1.sh",
      "20-table-isp2.sh",
      "30-rule-isp1.sh",
      "30-rule-isp2.sh",
      "35-mark-isp1.sh",
      "35-mark-isp2.sh",
      "40-multipath.sh",
      "50-pinned-isp1.sh",
      "50-pinned-isp2.sh",
      "60-masquerade-isp1.sh",
      "60-masquerade-isp2.sh",
      "70-forward.sh",
    ]);
    assert.equal(await gw("cat /etc/systemd/system/multiwan.service"), renderUnit(), "the installed unit is the rendered one");
    assert.equal(
      (await gw("readlink /etc/systemd/system/multi-user.target.wants/multiwan.service")).trim(),
      "/etc/systemd/system/multiwan.service",
    );
    assert.equal((await gw("stat -c %a /etc/network/if-up.d/multiwan")).trim(), "755");
  });

  test("after a reboot, what ExecStart runs brings back the same kernel state, and traffic splits as before", async () => {
    await assertIsp1Share(lab, 2 / 3, "before the reboot");
    await lab.reboot();
    const rebooted = await lab.snapshot();
    assert.doesNotMatch(rebooted.rules, /proto 77/, "the reboot really wiped the rules");
    assert.equal(rebooted.disk["/etc/multiwan/boot.sh"] !== undefined, true, "the disk kept the runner");
    const execStart = (
      await lab.exec("gw", "sed -n 's/^ExecStart=//p' /etc/systemd/system/multiwan.service", { check: true })
    ).stdout.trim();
    assert.equal(execStart, "/bin/sh /etc/multiwan/boot.sh");
    const boot = await lab.ssh(execStart);
    assert.equal(boot.code, 0, boot.stderr);
    assert.match(boot.stderr, /multiwan: applying 10-host\.sh[\s\S]*multiwan: applying 70-forward\.sh[\s\S]*multiwan: gateway applied/);
    assert.deepEqual(owned(await lab.snapshot()), owned(applied));
    // "As before": the same 2:1 split (comparing two random draws with each
    // other would be twice as noisy as comparing each with the weights).
    await assertIsp1Share(lab, 2 / 3, "after the reboot");
  });

  test("the runner waits for a late interface, and gives up after its bound naming what is missing", async () => {
    await lab.exec("gw", "ip addr del 192.168.1.1/24 dev eth1", { check: true });
    const gaveUp = await lab.ssh("MULTIWAN_WAIT_SECONDS=1 sh /etc/multiwan/boot.sh");
    assert.equal(gaveUp.code, 1);
    assert.match(gaveUp.stderr, /gave up after 1s; still missing: eth1 \(192\.168\.1\.1\/24\)/);
    const waiting = lab.ssh("MULTIWAN_WAIT_SECONDS=30 sh /etc/multiwan/boot.sh");
    await new Promise((resolve) => setTimeout(resolve, 2500));
    await lab.exec("gw", "ip addr add 192.168.1.1/24 dev eth1", { check: true });
    const done = await waiting;
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stderr, /waiting for eth1 \(192\.168\.1\.1\/24\)[\s\S]*gateway applied/);
    assert.deepEqual(owned(await lab.snapshot()), owned(applied));
  });

  test("a link flap: the ifupdown hook puts the uplink's routes back", async () => {
    await lab.exec("gw", "ip link set eth1 down && ip link set eth1 up", { check: true });
    const flapped = await lab.snapshot();
    assert.notEqual(routesOfTable(flapped, "isp1"), routesOfTable(applied, "isp1"), "the flap removed isp1's routes");
    const hook = await lab.exec("gw", "IFACE=eth1 /etc/network/if-up.d/multiwan");
    assert.equal(hook.code, 0, hook.stderr);
    assert.deepEqual(owned(await lab.snapshot()), owned(applied));
    const other = await lab.exec("gw", "IFACE=wlan9 /etc/network/if-up.d/multiwan");
    assert.equal(other.stderr, "", "links that are not ours are left alone");
  });

  test("destroy still restores the gateway exactly, runner, unit and hook included", async () => {
    assertSuccess(await pulumi("destroy", "--yes", "--skip-preview"));
    deployed = false;
    assertRestored(await lab.snapshot(), pristine);
  });
});
