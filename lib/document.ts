// The whole plan as one readable document: the shared prelude once, then
// each resource's type, name and apply steps, in creation order. Used by
// `npm run render` and the golden test.
import type { Plan } from "./plan";
import { LIB_PATH, PRELUDE, bootCopyOf, renderSourced } from "./render";
import { planResources } from "./resources";

export const TYPE_PREFIX = "multiwan:index:";

export function renderPlanDocument(gateway: string, plan: Plan): string {
  const resources = planResources(plan);
  const out: string[] = [
    `# multiwan plan for "${gateway}": ${resources.length} resources, in the order pulumi up creates them.`,
    `# The shared prelude, installed as ${LIB_PATH} (shown once; every script sources it):`,
    PRELUDE,
    "",
  ];
  resources.forEach((r, i) => {
    const deps = r.dependsOn.length ? ` (after ${r.dependsOn.map((d) => `${gateway}-${d}`).join(", ")})` : "";
    out.push(`#### ${i + 1}/${resources.length} ${TYPE_PREFIX}${r.kind} ${gateway}-${r.key}${deps}`);
    // GatewayHost installs lib.sh: its content is the prelude shown above.
    out.push(
      renderSourced(r.kind, r.entry as never)
        .apply.replace(`\n${PRELUDE}\n`, "\n# (the shared prelude shown above)\n")
        .trimEnd(),
    );
    out.push(`# ...kept as ${bootCopyOf(r.kind, r.entry as never)} for the boot runner`, "");
  });
  return out.join("\n");
}
