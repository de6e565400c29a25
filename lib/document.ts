// The whole plan as one readable document: each resource's type, name and
// apply script, in creation order. Used by `npm run render` and the golden test.
import type { Plan } from "./plan";
import { PRELUDE, bootCopyOf, renderHostScripts } from "./render";
import { planResources } from "./resources";

export const TYPE_PREFIX = "multiwan:index:";

export function renderPlanDocument(gateway: string, plan: Plan): string {
  const resources = planResources(plan);
  const out: string[] = [
    `# multiwan plan for "${gateway}": ${resources.length} resources, in the order pulumi up creates them.`,
    `# Every script starts with this shared prelude (shown once):`,
    PRELUDE,
    "",
  ];
  resources.forEach((r, i) => {
    const deps = r.dependsOn.length ? ` (after ${r.dependsOn.map((d) => `${gateway}-${d}`).join(", ")})` : "";
    out.push(`#### ${i + 1}/${resources.length} ${TYPE_PREFIX}${r.kind} ${gateway}-${r.key}${deps}`);
    out.push(renderHostScripts(r.kind, r.entry as never).apply.replace(PRELUDE, "# (shared prelude)").trimEnd());
    out.push(`# ...then keeps this script as ${bootCopyOf(r.kind, r.entry as never)} for the boot runner`, "");
  });
  return out.join("\n");
}
