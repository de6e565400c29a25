// npm run render -- <stack file>: prints every resource's apply script in the
// order `pulumi up` creates them, so a reviewer reads exactly what will run.
import { planSite } from "../lib/plan";
import { renderPlanDocument } from "../lib/document";
import { validateSite } from "../lib/validate";
import { readStackFile, runCli } from "./stackFile";

runCli(() => {
  const [file] = process.argv.slice(2);
  if (!file) {
    console.error("usage: npm run render -- <stack file>   e.g. stacks/Pulumi.home.yaml");
    return 2;
  }
  const stack = readStackFile(file);
  const result = validateSite(stack.site);
  if (!result.ok) {
    console.error(`${file}: not rendered, the site is invalid:`);
    for (const problem of result.problems) console.error(problem);
    return 1;
  }
  process.stdout.write(renderPlanDocument(stack.stack, planSite(result.site)));
  return 0;
});
