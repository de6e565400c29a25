// npm run validate -- <stack file>...: checks each site without touching any host.
import { planSite, trafficShares } from "../lib/plan";
import { deferredChecks } from "../lib/schema";
import { validateSite } from "../lib/validate";
import { readStackFile, runCli } from "./stackFile";

function validateOne(file: string): boolean {
  const { site } = readStackFile(file);
  const result = validateSite(site);
  if (!result.ok) {
    console.error(`${file}: ${result.problems.length} problem${result.problems.length === 1 ? "" : "s"} in multiwan:site`);
    for (const problem of result.problems) console.error(problem);
    return false;
  }
  const plan = planSite(result.site);
  const shares = trafficShares(plan.multipath);
  const uplinks = result.site.uplinks.map((u) => `${u.name} ${Math.round(shares[u.name] * 100)}%`).join(", ");
  const pins = result.site.pinnedRoutes.length;
  console.log(
    `${file}: valid: ${result.site.uplinks.length} uplinks (${uplinks}), ${pins} pinned route${pins === 1 ? "" : "s"}, NAT with ${result.site.nat.backend}`,
  );
  const deferred = deferredChecks(result.site);
  if (deferred.length > 0) console.log(`${file}: ${deferred.length} check(s) deferred to the gateway (DHCP uplinks):`);
  for (const line of deferred) console.log(`  ${line}`);
  return true;
}

runCli(() => {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: npm run validate -- <stack file>...   e.g. stacks/Pulumi.home.yaml");
    return 2;
  }
  let ok = true;
  for (const file of files) ok = validateOne(file) && ok;
  return ok ? 0 : 1;
});
