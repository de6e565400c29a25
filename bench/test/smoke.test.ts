// Smoke test of the bench (issue 7), so it cannot rot (`npm run bench:test`,
// not `npm test`: the bench is its own project): `node dist/bench/run.js`
// in quick mode (one run; home site first up + destroy beside the floor; 10
// routes over 3 uplinks; 120 connections per split; 1 s of iperf3; 60 held
// connections across one weight change, with and without marks) into a
// scratch directory. Figures are not asserted (wall time on a shared 2-core
// machine means nothing); that every section produced them, that both
// methods reached the same kernel state, and that nothing was left behind, is.
// The Ansible peer is left out: Ansible belongs to `npm run bench`, which
// installs it and fails when the peer's kernel state differs (bench/control.ts),
// not to the tests, which neither install it nor should pass without it.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { REPO_ROOT } from "../../test/support/cli";

interface BenchRun {
  code: number | null;
  output: string;
  pgid: number;
}

function runBench(env: Record<string, string>, timeoutMs: number): Promise<BenchRun> {
  return new Promise((resolve, reject) => {
    // Its own process group: a timeout kills everything it started.
    const child = spawn(process.execPath, [path.join(REPO_ROOT, "dist", "bench", "run.js")], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (output += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (output += d));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGTERM"); // the lab's guard tears the lab down on SIGTERM
      } catch {
        /* gone */
      }
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output, pgid: child.pid! });
    });
  });
}

function processes(): { pid: number; pgid: number; cmd: string }[] {
  const out = [];
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      const pgid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0").join(" ").trim();
      out.push({ pid: Number(d), pgid, cmd });
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

describe("bench (quick mode)", { concurrency: false }, () => {
  let out: string;
  let bench: BenchRun;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let results: any;

  before(async () => {
    out = fs.mkdtempSync(path.join(os.tmpdir(), "mwbench-test-"));
    bench = await runBench({ BENCH_QUICK: "1", BENCH_RUNS: "1", BENCH_OUT: out, BENCH_README: "0", BENCH_ANSIBLE: "0" }, 180_000);
    const file = path.join(out, "latest.json");
    if (fs.existsSync(file)) results = JSON.parse(fs.readFileSync(file, "utf8"));
  });

  after(() => {
    if (out) fs.rmSync(out, { recursive: true, force: true });
  });

  test("it exits 0 and writes the JSON, the Markdown tables and the plots", () => {
    assert.equal(bench.code, 0, bench.output.slice(-6000));
    assert.ok(results, "latest.json was written");
    assert.deepEqual(results.errors, []);
    for (const f of ["latest.md", "control.svg", "scale.svg", "flows.svg", "throughput.svg", "marks.svg"]) {
      const text = fs.readFileSync(path.join(out, f), "utf8");
      assert.ok(text.length > 100, `${f} is not empty`);
      if (f.endsWith(".svg")) assert.match(text, /^<svg[^>]*>[\s\S]*<\/svg>\s*$/, `${f} is an SVG`);
    }
    assert.match(bench.output, /Targets \(reported, not asserted\)/);
  });

  test("control plane: Pulumi and the floor, first up and destroy, same kernel state after each", () => {
    const c = results?.control;
    assert.ok(c, "the control section ran");
    for (const m of ["pulumi", "floor"]) {
      for (const op of ["first up", "destroy"]) assert.ok(c.times[m][op]?.median > 0, `${m} ${op} was timed`);
    }
    assert.ok(c.stateChecks.compared >= 3);
    assert.deepEqual(c.stateChecks.mismatches, []);
  });

  test("scale, data plane and breakdown produced their figures", () => {
    const s = results?.scale;
    assert.ok(s, "the scale section ran");
    assert.equal(s.uplinks, 3);
    assert.equal(s.points.length, 1);
    assert.ok(s.points[0].pulumi["one-route change"].median > 0);
    assert.deepEqual(s.stateChecks.mismatches, []);
    const d = results?.data;
    assert.ok(d, "the data section ran");
    assert.deepEqual(
      d.splits.map((x: { label: string }) => x.label),
      ["2:1", "3:2:1"],
    );
    for (const sp of d.splits) {
      assert.equal(sp.errors, 0, `every connection of split ${sp.label} got through`);
      assert.equal(
        sp.uplinks.reduce((n: number, u: { count: number }) => n + u.count, 0),
        sp.connections,
      );
      for (const u of sp.uplinks) assert.ok(u.count > 0, `${sp.label}: ${u.name} carried flows`);
    }
    assert.ok(d.throughput.plainMedian > 0 && d.throughput.gatewayMedian > 0);
    assert.deepEqual(d.stateChecks.mismatches, []);
    const b = results?.breakdown;
    assert.ok(b?.ssh.ssh2Exec.median > 0);
    assert.equal(results.targets.length, 7);
  });

  test("connection marks: held connections survive a weight change with marks, and some break without", () => {
    const m = results?.marks;
    assert.ok(m, "the marks section ran");
    assert.deepEqual(
      m.survival.map((c: { change: string; variant: string }) => `${c.change} ${c.variant}`),
      ["3:2:1 -> 1:2:3 without marks", "3:2:1 -> 1:2:3 with marks"],
    );
    for (const c of m.survival) {
      assert.equal(c.firstErrors, 0, `${c.variant}: every connection answered at first`);
      assert.equal(c.brokenWithoutChange, 0, `${c.variant}: nothing broke before the change`);
      assert.equal(
        c.byUplink.reduce((n: number, u: { held: number }) => n + u.held, 0),
        c.connections,
      );
    }
    const [without, withMarks] = m.survival;
    assert.equal(withMarks.broken, 0, "with marks no connection broke or moved");
    assert.ok(without.broken > 0, "without marks the weight change broke connections (the measurement sees breakage)");
    assert.equal(m.floorCost.resources["with marks"] - m.floorCost.resources["without marks"], 2);
    assert.deepEqual(m.stateChecks.mismatches, []);
  });

  test("no namespace or process is left behind", () => {
    const labs: string[] = results?.meta?.labs ?? [...bench.output.matchAll(/lab (mw[0-9a-z]+) is up/g)].map((m) => m[1]);
    assert.ok(labs.length >= 1, "the bench named its lab");
    const netns = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
    for (const name of labs) assert.doesNotMatch(netns, new RegExp(`^${name}-`, "m"), `namespaces of ${name} are gone`);
    const left = processes().filter(
      (p) => p.pid !== process.pid && (p.pgid === bench.pgid || labs.some((n) => p.cmd.includes(n)) || /mwbench-(?!test-)/.test(p.cmd)),
    );
    assert.deepEqual(left, [], "no process of the bench is still running");
  });
});
