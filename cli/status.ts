// `npm run status -- --stack <name> [--stack-file <file>] [--key <file>] [--json]`:
// each uplink's health as the gateway's monitor sees it, and its share of new
// connections in the live multipath route. Connects over SSH with the
// provider's session pool, to the host of the stack's site
// (stacks/Pulumi.<name>.yaml unless --stack-file). The private key: --key,
// else $MULTIWAN_SSH_KEY_FILE, else the ssh agent.
import fs from "node:fs";
import path from "node:path";
import { routesOf } from "../lib/facts/routes";
import { factText, parseFacts } from "../lib/facts/sections";
import { planSite } from "../lib/plan";
import { HEALTH_JSON } from "../lib/render/health";
import { formatStatusTable, statusRows } from "../lib/status";
import { validateSite } from "../lib/validate";
import { SshPool } from "../provider/ssh";
import { REPO_ROOT } from "../support/repoRoot";
import { StackFileError, readStackFile } from "./stackFile";

function option(args: string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
}

async function main(args: string[]): Promise<number> {
  const stack = option(args, "--stack");
  const file = option(args, "--stack-file") ?? (stack ? path.join(REPO_ROOT, "stacks", `Pulumi.${stack}.yaml`) : undefined);
  if (!file) {
    console.error("usage: npm run status -- --stack <name> [--stack-file <file>] [--key <private key file>] [--json]");
    return 2;
  }
  const result = validateSite(readStackFile(file).site);
  if (!result.ok) {
    console.error(`${file}: the site is invalid:\n${result.problems.map((p) => `  ${p}`).join("\n")}`);
    return 1;
  }
  const site = result.site;
  const plan = planSite(site);
  const keyFile = option(args, "--key") ?? process.env.MULTIWAN_SSH_KEY_FILE;
  const pool = new SshPool();
  try {
    const r = await pool.runChecked(
      {
        address: site.host.address,
        port: site.host.port,
        user: site.host.user,
        hostKey: site.host.hostKey,
        insecureIgnoreHostKey: site.host.insecureIgnoreHostKey,
        privateKey: keyFile ? fs.readFileSync(keyFile, "utf8") : undefined,
      },
      [
        `echo '@@ health'; cat ${HEALTH_JSON} 2>/dev/null || true`,
        "echo '@@ now'; date +%s",
        `echo '@@ routes'; ip -j route show table ${plan.multipath.table} proto ${plan.multipath.protocol}`,
      ].join("\n"),
      "read the uplinks' health",
    );
    const facts = parseFacts(r.stdout);
    const rows = statusRows(plan, factText(facts, "health"), routesOf(facts, "routes").routes, Number(factText(facts, "now")));
    if (args.includes("--json")) console.log(JSON.stringify({ host: site.host.address, uplinks: rows }, null, 2));
    else {
      if (!factText(facts, "health"))
        console.log(`(no health monitor reports on ${site.host.address}: is healthCheck set and the stack up?)`);
      process.stdout.write(formatStatusTable(rows));
    }
    return 0;
  } finally {
    await pool.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err instanceof StackFileError ? err.message : `status failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
