// Fault injection on the lab (issue 15, item 8), once per NAT backend, on one
// lab each: runs of the real CLI and provider are interrupted at points drawn
// from a seed (MW_FAULT_SEED, default 15) — kill -9 of the provider or of
// the CLI, Ctrl-C, the SSH relay cut, a hung command — and the one step that
// follows alone (`up`, `destroy`, or `refresh` then `up`) must leave the
// gateway exactly as planned or exactly as before: rules, IPv4 routes of
// every table, nft ruleset or iptables-save, the sysctls, the disk. No
// pending operation may be left in the state, no process behind.
// The suite prints a table of case, action and result.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { type GatewaySnapshot, run } from "../../../lab/lab";
import { FaultHooks } from "../../../lab/faults";
import { alive, cmdline, descendants } from "../../../lab/processes";
import { siteSchema } from "../../../lib/schema";
import { PULUMI_ENTRY, REPO_ROOT, type RunResult, describeRun } from "../../support/cli";
import { type LabStackSession, openLabStack } from "../../support/labStack";
import { ipv4Routes } from "../../support/gatewayState";
import { type FaultCase, type Phase, type ScriptCounts, drawCases, endsDeployed } from "./cases";
import { type Backend, type ExtraCase, loadExtraCases } from "./extra";

const SEED = Number(process.env.MW_FAULT_SEED ?? 15);
const BACKENDS: Backend[] = (process.env.MW_FAULT_BACKENDS?.split(",") as Backend[] | undefined) ?? ["nftables", "iptables"];
/** MW_FAULT_ONLY=F03,F07 runs only those cases (their set-up still runs): to replay one. */
const ONLY = process.env.MW_FAULT_ONLY?.split(",");
const SKIP_PREVIEW = ["--yes", "--skip-preview"];

type Weights = [number, number];
const WEIGHTS_A: Weights = [2, 1];
const WEIGHTS_B: Weights = [1, 2];

/** The comparable parts of a snapshot: counters and IPv6 (link-local routes come and go) left out. */
function normalize(snap: GatewaySnapshot): Record<string, string> {
  return {
    rules: snap.rules,
    routes: ipv4Routes(snap),
    nft: nftTables(snap.nft.replace(/counter packets \d+ bytes \d+/g, "counter")),
    iptables: iptablesSorted(snap.iptables.replace(/\[\d+:\d+\]/g, "[0:0]")),
    sysctls: Object.entries(snap.sysctls)
      .sort()
      .map(([k, v]) => `${k}=${v}`)
      .join("\n"),
    disk: Object.entries(snap.disk)
      .sort()
      .map(([k, v]) => `${k} ${v}`)
      .join("\n"),
  };
}

/**
 * nft lists tables and chains in the order they were made, and the engine
 * applies independent resources in parallel (with iptables, each adds its
 * chain and its jump to a shared table): each table is compared as the set of
 * its lines. The order of rules within one of our chains is the renderer's,
 * the same in every run.
 */
function nftTables(ruleset: string): string {
  const tables: string[][] = [];
  let warned = false; // iptables-nft's "# Warning: table ip nat is managed by iptables-nft" heads its table
  for (const line of ruleset.split("\n")) {
    const warning = /^# Warning: table /.test(line);
    if (warning || (/^table /.test(line) && !warned) || !tables.length) tables.push([line]);
    else tables[tables.length - 1].push(line);
    warned = warning;
  }
  return tables
    .map(([head, ...rest]) => [head, ...rest.sort()].join("\n"))
    .sort()
    .join("\n");
}

/** The same for iptables: the jumps to our chains land in a built-in chain in the order the resources were applied. */
function iptablesSorted(save: string): string {
  const tables: string[][] = [];
  for (const line of save.split("\n")) {
    if (/^\*/.test(line) || !tables.length) tables.push([line]);
    else tables[tables.length - 1].push(line);
  }
  return tables.map(([head, ...rest]) => [head, ...rest.sort()].join("\n")).join("\n");
}

/** "" when equal; else the parts that differ, with the lines only one side has. */
function difference(got: Record<string, string>, want: Record<string, string>): string {
  const out: string[] = [];
  for (const key of Object.keys(want)) {
    if (got[key] === want[key]) continue;
    // Lines as a multiset: a line the gateway holds twice shows as one "+".
    const tally = (text: string) => {
      const m = new Map<string, number>();
      for (const l of text.split("\n")) m.set(l, (m.get(l) ?? 0) + 1);
      return m;
    };
    const g = tally(got[key]);
    const w = tally(want[key]);
    const lines = [`${key}:`];
    for (const [l, n] of w) for (let i = g.get(l) ?? 0; i < n; i++) lines.push(`  - ${l}`);
    for (const [l, n] of g) for (let i = w.get(l) ?? 0; i < n; i++) lines.push(`  + ${l}`);
    if (lines.length === 1) lines.push("  (the same lines in another order)", ...got[key].split("\n").map((l) => `  | ${l}`));
    out.push(...lines);
  }
  return out.join("\n");
}

/** Whether the site schema has the commit-confirmed guard (issue 19): the suite then runs with it off. */
function siteKnowsRollback(site: Record<string, unknown>): boolean {
  const r = siteSchema.safeParse({ ...site, rollback: { afterSeconds: 0 } });
  return r.success || !r.error.issues.some((i) => i.code === "unrecognized_keys" && i.keys.includes("rollback"));
}

interface Row {
  id: string;
  backend: string;
  fault: string;
  point: string;
  run: string;
  action: string;
  result: string;
}
const rows: Row[] = [];

function printTable(): void {
  const head: Row = {
    id: "case",
    backend: "backend",
    fault: "fault",
    point: "point",
    run: "interrupted run",
    action: "action",
    result: "result",
  };
  const cols = Object.keys(head) as (keyof Row)[];
  const width = Object.fromEntries(cols.map((c) => [c, Math.max(...[head, ...rows].map((r) => r[c].length))])) as Record<keyof Row, number>;
  const line = (r: Row) => cols.map((c) => r[c].padEnd(width[c])).join(" | ");
  const text = [
    `fault-injection suite, seed ${SEED}`,
    line(head),
    cols.map((c) => "-".repeat(width[c])).join("-|-"),
    ...rows.map(line),
    `${rows.filter((r) => r.result === "ok").length} of ${rows.length} cases ok`,
  ].join("\n");
  process.stdout.write(`\n${text}\n\n`);
}

/** The processes of one CLI run: the wrapper's descendants. */
function cliPids(wrapper: number): { cli: number[]; providers: number[] } {
  const all = descendants(wrapper);
  const exe = (p: number) => {
    try {
      return fs.readlinkSync(`/proc/${p}/exe`);
    } catch {
      return "";
    }
  };
  return {
    cli: all.filter((p) => path.basename(exe(p)) === "pulumi"),
    providers: all.filter((p) => cmdline(p).includes("dist/provider/main.js")),
  };
}

function kill(pids: number[], signal: NodeJS.Signals): void {
  for (const p of pids) {
    try {
      process.kill(p, signal);
    } catch {
      /* gone */
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const backend of BACKENDS) {
  describe(`fault injection (${backend}, seed ${SEED})`, { concurrency: false }, () => {
    let s: LabStackSession;
    let hooks: FaultHooks;
    let counts: ScriptCounts;
    let bare: Record<string, string>;
    const planned = new Map<string, Record<string, string>>();
    let deployed = false;
    let weights: Weights = WEIGHTS_A;
    const providerPids = new Set<number>();

    const setWeights = (w: Weights) => {
      weights = w;
      s.editSite((site) => {
        site.uplinks[0].weight = w[0];
        site.uplinks[1].weight = w[1];
      });
    };
    const snapshot = async () => normalize(await s.lab.snapshot());

    /** A pulumi command of the stack; `during` gets the wrapper's process once it runs. */
    const pulumi = (args: string[], during?: (child: ChildProcess, output: () => string) => void): Promise<RunResult> => {
      let seen = false;
      let all = "";
      return run([process.execPath, PULUMI_ENTRY, ...args, ...s.args], {
        env: s.env,
        timeoutMs: 180_000,
        onOutput(output, child) {
          all = output;
          if (seen) return;
          seen = true;
          during?.(child, () => all);
        },
      });
    };
    const ok = async (args: string[]): Promise<RunResult> => {
      const r = await pulumi(args);
      assert.equal(r.code, 0, describeRun(r));
      return r;
    };
    const up = () => ok(["up", ...SKIP_PREVIEW]);
    const destroy = () => ok(["destroy", ...SKIP_PREVIEW]);

    /** Pending operations left in the stack's state (read from the file backend). */
    const pendingOperations = (): string[] => {
      const found: string[] = [];
      const walk = (dir: string) => {
        for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
          const p = path.join(dir, e.name);
          if (e.isDirectory()) walk(p);
          else if (e.name === `${s.stack}.json`) {
            const ops = JSON.parse(fs.readFileSync(p, "utf8")).checkpoint?.latest?.pending_operations ?? [];
            for (const op of ops) found.push(`${op.type} ${op.resource?.urn?.split("::").pop()}`);
          }
        }
      };
      walk(path.join(s.stateDir, ".pulumi", "stacks"));
      return found;
    };

    before(async () => {
      s = await openLabStack(backend);
      hooks = new FaultHooks(s.lab);
      await hooks.install();
      bare = normalize(s.pristine);
      s.editSite((site) => {
        if (siteKnowsRollback(site)) site.rollback = { afterSeconds: 0 };
      });
      // Calibration: clean runs of each phase count their scripts and give the planned gateways.
      const count = () => hooks.events().filter((e) => e.kind === "start").length;
      hooks.reset();
      await up();
      deployed = s.deployed = true;
      const first = count();
      planned.set(String(WEIGHTS_A), await snapshot());
      hooks.reset();
      setWeights(WEIGHTS_B);
      await up();
      const weight = count();
      planned.set(String(WEIGHTS_B), await snapshot());
      hooks.reset();
      await destroy();
      deployed = s.deployed = false;
      const gone = count();
      assert.equal(difference(await snapshot(), bare), "", "a clean destroy restores the bare gateway");
      counts = { "first-up": first, "weight-up": weight, destroy: gone };
      process.stdout.write(`# ${backend}: scripts per clean run: ${JSON.stringify(counts)}\n`);
    });

    after(async () => {
      try {
        await s?.lab.restoreRelay();
        s.deployed = deployed;
        await s?.close();
      } finally {
        if (backend === BACKENDS[BACKENDS.length - 1]) printTable();
      }
    });

    /**
     * After a failed case, so that the next one starts clean: the gateway
     * rebooted (its kernel state is gone) with what multiwan added to its
     * disk removed, then a destroy that finds nothing left to remove.
     */
    const resetHard = async (): Promise<string> => {
      try {
        await s.lab.restoreRelay();
        await s.lab.reboot();
        await hooks.install();
        const extra = Object.keys(s.lab.diskListing())
          .filter((p) => !(p in s.pristine.disk))
          .sort()
          .reverse();
        if (extra.length) await s.lab.exec("gw", `rm -rf ${extra.map((p) => `'${p}'`).join(" ")}`, { check: true });
        await destroy();
        deployed = false;
        const diff = difference(await snapshot(), bare);
        return diff ? `\n(the reset after it failed too:\n${diff})` : "";
      } catch (e) {
        return `\n(the reset after it failed too: ${(e as Error).message})`;
      }
    };

    /** Brings the gateway and the stack to where the case starts. */
    const arrange = async (startDeployed: boolean) => {
      if (startDeployed && !deployed) await up();
      if (!startDeployed && deployed) await destroy();
      deployed = startDeployed;
    };

    /** The interrupted run of a phase: its command, after the site edit it needs. */
    const phaseCommand = (phase: Phase): string[] => {
      if (phase === "weight-up") setWeights(weights === WEIGHTS_A ? WEIGHTS_B : WEIGHTS_A);
      return phase === "destroy" ? ["destroy", ...SKIP_PREVIEW] : ["up", ...SKIP_PREVIEW];
    };

    /** Runs the recovery alone, then compares the gateway, the state and the processes with the plan. */
    const recoverAndJudge = async (recovery: FaultCase["recovery"] | ExtraCase["action"]): Promise<string> => {
      const steps =
        recovery === "refresh+up"
          ? [
              ["refresh", ...SKIP_PREVIEW],
              ["up", ...SKIP_PREVIEW],
            ]
          : [[recovery, ...SKIP_PREVIEW]];
      for (const args of steps) {
        const r = await pulumi(args);
        if (r.code !== 0) return `FAIL: ${args[0]} exited ${r.code}: ${lastLines(r.output)}`;
      }
      deployed = recovery !== "destroy";
      const want = deployed ? planned.get(String(weights))! : bare;
      const diff = difference(await snapshot(), want);
      if (diff) return `FAIL: the gateway is not ${deployed ? "as planned" : "as before"}:\n${diff}`;
      const pending = pendingOperations();
      if (pending.length) return `FAIL: pending operations left in the state: ${pending.join(", ")}`;
      // A pid counts only while it is still a provider: the kernel hands freed pids to other processes.
      const ours = (p: number) => cmdline(p).includes(`${REPO_ROOT}/`) && cmdline(p).includes("dist/provider/main.js");
      const living = [...providerPids].filter((p) => alive(p) && ours(p));
      providerPids.clear();
      if (living.length) return `FAIL: provider process(es) left running: ${living.map(cmdline).join("; ")}`;
      return "ok";
    };

    const lastLines = (text: string) =>
      text
        .trim()
        .split("\n")
        .filter((l) => /error|fail/i.test(l))
        .slice(-3)
        .join(" / ") || text.trim().split("\n").slice(-2).join(" / ");

    describe("seeded faults", { concurrency: false }, () => {
      // The cases need the calibration counts: drawn in a test, run in order.
      test("every case converges with one step", { timeout: 40 * 60_000 }, async () => {
        const cases = drawCases(SEED, counts).filter((c) => !ONLY || ONLY.includes(c.id));
        const failures: string[] = [];
        for (const c of cases) {
          const row: Row = {
            id: c.id,
            backend,
            fault: c.fault,
            point: c.fault === "hang" ? `${c.phase}: nft/iptables-restore hangs` : `${c.phase}: script ${c.script}, step ${c.step}`,
            run: "",
            action: c.recovery,
            result: "",
          };
          try {
            row.result = await runCase(c, row);
          } catch (e) {
            row.result = `FAIL: ${(e as Error).message}`;
          } finally {
            await s.lab.restoreRelay();
            hooks.disarm();
          }
          if (row.result !== "ok") row.result += await resetHard();
          rows.push(row);
          process.stdout.write(
            `# ${backend} ${c.id} ${c.fault} ${row.point} [${row.run}] -> ${c.recovery}: ${row.result.replace(/\n/g, "\n#   ")}\n`,
          );
          if (row.result !== "ok") failures.push(`${c.id} (${c.fault}, ${row.point}, then ${c.recovery}): ${row.result}`);
        }
        assert.deepEqual(failures, []);
      });

      const runCase = async (c: FaultCase, row: Row): Promise<string> => {
        await arrange(c.phase !== "first-up");
        const args = phaseCommand(c.phase);
        hooks.reset();
        const tool = backend === "nftables" ? "nft" : "iptables-restore";
        if (c.fault === "hang") {
          s.editSite((site) => {
            site.host.commandTimeoutSeconds = 5;
          });
          await hooks.hang(tool);
        } else hooks.arm(c.script, c.step);

        let fault = "";
        let problem = "";
        let exited = false;
        let startsAtCancel = -1;
        let injected: Promise<void> = Promise.resolve();
        const result = pulumi(args, (child, output) => {
          if (c.fault === "hang") return;
          injected = (async () => {
            const gated = await hooks.waitFor(
              (e) => e.some((x) => x.kind === "gated" && x.n === c.script),
              () => exited,
            );
            if (!gated) {
              problem = `the run ended before script ${c.script} was held`;
              return;
            }
            const started = hooks.events().find((e) => e.kind === "start" && e.n === c.script);
            row.point += ` (${started?.detail ?? "?"})`;
            const { cli, providers } = cliPids(child.pid!);
            for (const p of providers) providerPids.add(p);
            if (c.fault === "kill-provider") {
              kill(providers, "SIGKILL");
              fault = `kill -9 provider (${providers.length})`;
            } else if (c.fault === "kill-cli") {
              kill(cli, "SIGKILL");
              fault = "kill -9 CLI";
            } else if (c.fault === "cut-relay") {
              await s.lab.cutRelay();
              fault = "relay cut";
            } else if (c.fault === "sigint") {
              kill(cli, "SIGINT");
              fault = "SIGINT";
              // The CLI says when it cancels; it passes the Cancel on to the provider at once, and from then on nothing may start.
              for (let i = 0; i < 500 && !/\^C received; cancelling/.test(output()) && !exited; i++) await sleep(20);
              if (!/\^C received; cancelling/.test(output())) problem = "the CLI never said it was cancelling";
              await sleep(1000);
              startsAtCancel = hooks.events().filter((e) => e.kind === "start").length;
            }
            hooks.release();
          })();
        });
        const r = await result.finally(() => {
          exited = true;
        });
        await injected;
        row.run = `${fault || c.fault}; exit ${r.code ?? r.signal}`;
        if (process.env.MW_FAULT_VERBOSE) process.stdout.write(`${r.output.replace(/^/gm, "#   | ")}\n`);
        hooks.disarm();
        if (c.fault === "cut-relay") await s.lab.restoreRelay();
        const events = hooks.events();
        if (c.fault === "hang") {
          await hooks.unhang(tool);
          s.editSite((site) => {
            delete site.host.commandTimeoutSeconds;
          });
          if (!/did not finish within 5 s \(host\.commandTimeoutSeconds\)/.test(r.output))
            problem = `the hung run did not fail on the time limit: ${lastLines(r.output)}`;
          const left = await hooks.leftovers();
          if (left.length) problem = `processes of the hung command are left on the gateway: ${left.join("; ")}`;
        }
        if (c.fault === "sigint") {
          const ends = events.filter((e) => e.kind === "end");
          const starts = events.filter((e) => e.kind === "start");
          const cut = starts.filter((st) => !ends.some((e) => e.n === st.n && e.detail === "0"));
          if (cut.length) problem = `Ctrl-C cut scripts off: ${cut.map((x) => `${x.n} (${x.detail})`).join(", ")}`;
          if (startsAtCancel >= 0 && starts.length > startsAtCancel)
            problem = `scripts started after the Cancel: ${starts
              .slice(startsAtCancel)
              .map((x) => x.detail)
              .join(", ")}`;
        }
        if (problem) return `FAIL: ${problem}`;
        // After Ctrl-C the engine may still finish: everything left was already running.
        if (r.code === 0 && c.fault !== "sigint") return `FAIL: the interrupted run succeeded (exit 0): was it interrupted?`;
        const verdict = await recoverAndJudge(c.recovery);
        assert.equal(deployed, endsDeployed(c));
        return verdict;
      };
    });

    const extra = loadExtraCases()
      .filter((c) => !c.backends || c.backends.includes(backend))
      .map((c, i) => ({ ...c, id: `X${String(i + 1).padStart(2, "0")}` }))
      .filter((c) => !ONLY || ONLY.includes(c.id));
    if (extra.length) {
      describe("extra cases (./foreign.ts)", { concurrency: false }, () => {
        for (const c of extra) {
          test(c.name, { timeout: 5 * 60_000 }, async () => {
            const row: Row = { id: c.id, backend, fault: "foreign state", point: c.name, run: "", action: c.action, result: "" };
            try {
              await arrange(c.start === "deployed");
              const start = await snapshot();
              await s.lab.exec("gw", c.plant, { check: true });
              const probe = async () => (await s.lab.exec("gw", c.probe, { check: true })).stdout;
              const foreign = await probe();
              const steps =
                c.action === "refresh+up"
                  ? [
                      ["refresh", ...SKIP_PREVIEW],
                      ["up", ...SKIP_PREVIEW],
                    ]
                  : [[c.action, ...SKIP_PREVIEW]];
              let out = "";
              let code: number | null = 0;
              for (const a of steps) {
                const r = await pulumi(a);
                out += r.output;
                code = r.code;
                if (r.code !== 0) break;
              }
              row.run = `exit ${code}`;
              const untouched = (await probe()) === foreign;
              await s.lab.exec("gw", c.unplant, { check: true });
              if (c.refused) {
                if (code === 0) row.result = "FAIL: not refused";
                else if (!c.refused.test(out)) row.result = `FAIL: refused, but not as expected: ${lastLines(out)}`;
                else if (!untouched) row.result = "FAIL: the foreign state was changed";
                else {
                  const diff = difference(await snapshot(), start);
                  row.result = diff ? `FAIL: the refused run changed the gateway:\n${diff}` : "ok";
                }
              } else if (code !== 0) row.result = `FAIL: ${c.action} exited ${code}: ${lastLines(out)}`;
              else if (!untouched) row.result = "FAIL: the foreign state was changed";
              else {
                deployed = c.action !== "destroy";
                const diff = difference(await snapshot(), deployed ? planned.get(String(weights))! : bare);
                row.result = diff ? `FAIL: the gateway is not as it should be:\n${diff}` : "ok";
              }
            } catch (e) {
              row.result = `FAIL: ${(e as Error).message}`;
            }
            rows.push(row);
            assert.equal(row.result, "ok");
          });
        }
      });
    }
  });
}
