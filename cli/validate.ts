// npm run validate -- <stack file>...: checks each site without touching any host.
import { planSite, trafficShares } from "../lib/plan";
import { deferredChecks } from "../lib/schema";
import { validateLoaded } from "../lib/siteSource";
import { SITE_KEY, readStackFile, runCli } from "./stackFile";

function validateOne(file: string): boolean {
  const { key, loaded } = readStackFile(file);
  const result = validateLoaded(loaded);
  if (!result.ok) {
    console.error(`${file}: ${result.problems.length} problem${result.problems.length === 1 ? "" : "s"} in ${key}`);
    for (const problem of result.problems) console.error(problem);
    return false;
  }
  const plan = planSite(result.site);
  const shares = trafficShares(plan.multipath);
  const uplinks = result.site.uplinks.map((u) => `${u.name} ${Math.round(shares[u.name] * 100)}%`).join(", ");
  const pins = result.site.pinnedRoutes.length;
  const fromFiles = loaded.fromFiles > 0 ? ` (${loaded.fromFiles.toLocaleString("en-US")} from files)` : "";
  console.log(
    `${file}: valid: ${result.site.uplinks.length} uplinks (${uplinks}), ${pins.toLocaleString("en-US")} pinned route${pins === 1 ? "" : "s"}${fromFiles}, NAT with ${result.site.nat.backend}`,
  );
  if (key !== SITE_KEY)
    console.log(`${file}: the site is under ${key}, which the engine also hands to the provider's environment: rename it to ${SITE_KEY}`);
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
