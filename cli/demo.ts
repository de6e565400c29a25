// The main job (README command 1): bring up the lab, `pulumi up` the example
// site against it, show what landed on the gateway and how connections now
// split, then destroy and take the lab down. `--keep` leaves it all running.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { parse, stringify } from "yaml";
import { type Lab, SEEN_VIA, labUp } from "../lab/lab";
import { initLabStack } from "../lab/pulumiStack";
import { REPO_ROOT } from "../support/repoRoot";

const keep = process.argv.includes("--keep");

function banner(text: string) {
  console.log(`\n==> ${text}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The health monitor probes two of the internet's addresses through each uplink. */
const HEALTH_TARGETS = ["203.0.113.68", "203.0.113.69"];
const OUTAGE_NFT =
  'table ip outage {\n  chain forward {\n    type filter hook forward priority 0; policy accept;\n    oifname "wan" drop\n  }\n}\n';

async function uplinkState(lab: Lab, uplink: string): Promise<string> {
  return (await lab.exec("gw", `cat /run/multiwan/state/${uplink} 2>/dev/null || true`)).stdout.split(" ")[0];
}

async function waitState(lab: Lab, uplink: string, want: string): Promise<number> {
  const t0 = Date.now();
  while ((await uplinkState(lab, uplink)) !== want) {
    if (Date.now() - t0 > 60_000) throw new Error(`${uplink} did not become ${want} within 60 s`);
    await sleep(100);
  }
  return (Date.now() - t0) / 1000;
}

/** `npm run status` against the lab's gateway, with the terminal attached. */
function status(lab: Lab, configFile: string): void {
  spawnSync(process.execPath, [path.join(REPO_ROOT, "dist", "cli", "status.js"), "--stack-file", configFile, "--key", lab.privateKeyPath], {
    stdio: "inherit",
  });
}

async function split(lab: Lab, count: number): Promise<void> {
  const tally = await lab.flows({ count, timeoutMs: 1500 });
  const isp1 = tally.get(SEEN_VIA.isp1) ?? 0;
  const isp2 = tally.get(SEEN_VIA.isp2) ?? 0;
  const failed = count - isp1 - isp2;
  console.log(`  ${count} new connections: isp1 ${isp1}, isp2 ${isp2}, failed ${failed}`);
}

/** Cuts modem 1's internet side (its link to the gateway stays up), shows the failover, restores it. */
async function failover(lab: Lab, configFile: string): Promise<void> {
  banner("failover: everything beyond modem 1 is black-holed (its link to the gateway stays up)");
  await lab.exec("m1", ["nft", "-f", "-"], { input: OUTAGE_NFT, check: true });
  const down = await waitState(lab, "isp1", "down");
  console.log(`  the monitor took isp1 out after ${down.toFixed(1)} s`);
  console.log("$ npm run status");
  status(lab, configFile);
  await split(lab, 60);
  banner("modem 1's internet is back");
  await lab.exec("m1", "nft delete table ip outage", { check: true });
  const up = await waitState(lab, "isp1", "up");
  console.log(`  the monitor put isp1 back after ${up.toFixed(1)} s`);
  console.log("$ npm run status");
  status(lab, configFile);
  await split(lab, 600);
}

/** Runs `npm run pulumi` for the lab stack with the terminal attached. */
function pulumi(lab: Lab, env: NodeJS.ProcessEnv, stackArgs: string[], args: string[]): void {
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, "dist", "cli", "pulumi.js"), ...args, ...stackArgs], {
    cwd: REPO_ROOT,
    env,
    stdio: "inherit",
  });
  if (r.status !== 0)
    throw new Error(
      `pulumi ${args.join(" ")} failed (exit ${r.status}); the lab ${lab.name} is kept for inspection: npm run lab -- down ${lab.name}`,
    );
}

async function main(): Promise<void> {
  banner("lab up: gateway, two modems, an internet and a LAN client in network namespaces");
  const lab = await labUp({ guard: !keep });
  const work = path.join(lab.dir, "pulumi");
  const { env, args: stackArgs, configFile } = initLabStack(lab.name, lab.stackFile, fs.readFileSync(lab.privateKeyPath, "utf8"), work);
  // The example site with a health check: probe two internet addresses through each uplink.
  const doc = parse(fs.readFileSync(configFile, "utf8"));
  doc.config["gateway:site"].healthCheck = { targets: HEALTH_TARGETS };
  fs.writeFileSync(configFile, stringify(doc));
  let deployed = false;
  try {
    banner(`pulumi up of the home site (stack file ${configFile})`);
    pulumi(lab, env, stackArgs, ["up", "--yes", "--skip-preview"]);
    deployed = true;

    banner("what landed on the gateway");
    const show = await lab.exec(
      "gw",
      "echo '# ip rule'; ip rule; echo; echo '# ip route show table all proto 77'; ip route show table all proto 77; echo; echo '# nft list ruleset'; nft list ruleset",
      { check: true },
    );
    console.log(show.stdout.trimEnd());

    banner("600 connections from the LAN client to 60 internet servers");
    const tally = await lab.flows({ count: 600 });
    const isp1 = tally.get(SEEN_VIA.isp1) ?? 0;
    const isp2 = tally.get(SEEN_VIA.isp2) ?? 0;
    const pct = (n: number) => `${((100 * n) / Math.max(1, isp1 + isp2)).toFixed(1)}%`;
    console.log(`  isp1 (weight 2, target 66.7%): ${String(isp1).padStart(4)} connections  ${pct(isp1)}`);
    console.log(`  isp2 (weight 1, target 33.3%): ${String(isp2).padStart(4)} connections  ${pct(isp2)}`);
    const pinned = await lab.flows({ count: 20, targets: ["198.51.100.91"] });
    console.log(`  pinned 198.51.100.91 -> isp2: ${pinned.get(SEEN_VIA.isp2) ?? 0} of 20 connections left through isp2`);

    // The lab has no systemd: its stand-in supervisor runs multiwan-health.service's ExecStart.
    lab.superviseHealthMonitor();
    await waitState(lab, "isp1", "up");
    await sleep(1500);
    await failover(lab, configFile);

    if (keep) {
      banner(`the lab ${lab.name} keeps running`);
      console.log(lab.summary());
      console.log(
        `  pulumi:     PULUMI_BACKEND_URL=file://${work}/state PULUMI_CONFIG_PASSPHRASE=lab npm run pulumi -- <command> ${stackArgs.join(" ")}`,
      );
      console.log(`  tear down:  (the pulumi destroy above, then) npm run lab -- down ${lab.name}`);
      return;
    }
    banner("pulumi destroy: the gateway goes back to exactly how it was");
    pulumi(lab, env, stackArgs, ["destroy", "--yes", "--skip-preview"]);
    deployed = false;
  } finally {
    if (!keep) {
      if (deployed) pulumi(lab, env, stackArgs, ["destroy", "--yes", "--skip-preview"]);
      banner("lab down");
      await lab.down();
    }
  }
}

main().catch((err) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
