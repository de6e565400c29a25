// What a pull request changes on one gateway, as Markdown for a PR comment:
// the resources to create, update, replace or delete with the fields that
// change, and for each the unified diff of the exact script it will run on
// the box. Pure: two sites in, text out. The base site is planned and
// rendered with the same code as the head, so the script diff is the effect
// of the stack file change; what a code change does shows in the preview.
import { planSite } from "../../lib/plan";
import { expectedState, kindOf, renderSourced, type ResourceKind } from "../../lib/render";
import { planResources, type PlannedResource } from "../../lib/resources";
import type { Site } from "../../lib/schema";
import { detailedDiffOf, type PropertyDiff } from "../../provider/propertyDiff";
import { unifiedDiff } from "./unifiedDiff";

export interface ReviewSide {
  /** "main", "working tree": names the side in headings and diff labels. */
  label: string;
  /** Undefined when the stack file does not exist on that side. */
  site: Site | undefined;
}

type Action = "create" | "update" | "replace" | "delete";
const SYMBOL: Record<Action, string> = { create: "+", update: "~", replace: "+-", delete: "-" };

interface Change {
  action: Action;
  name: string;
  kind: ResourceKind | "provider";
  fields: string[];
  sections: string[];
}

type Props = Record<string, unknown>;

/** The value at "nexthops[0].weight" (the paths detailedDiffOf produces). */
function valueAt(obj: unknown, path: string): unknown {
  let v = obj;
  for (const m of path.matchAll(/([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]/g)) {
    const key = m[1] ?? (m[2] !== undefined ? Number(m[2]) : JSON.parse(`"${m[3]}"`));
    v = v === null || typeof v !== "object" ? undefined : (v as Record<string | number, unknown>)[key];
  }
  return v;
}

const show = (v: unknown) => (v === undefined ? "(none)" : JSON.stringify(v));
const code = (s: string) => `\`${s.replace(/`/g, "'")}\``;

function fieldLines(olds: Props, news: Props, diff: Record<string, PropertyDiff>): string[] {
  return Object.entries(diff).map(([path, d]) => {
    const why = d.kind.endsWith("_REPLACE") ? " (forces a replace)" : "";
    return `${code(path)}: ${code(show(valueAt(olds, path)))} → ${code(show(valueAt(news, path)))}${why}`;
  });
}

function fenced(lang: string, text: string): string[] {
  const fence = text.includes("```") ? "~~~~" : "```";
  return [`${fence}${lang}`, text.trimEnd(), fence];
}

function resourceChange(
  stack: string,
  base: ReviewSide,
  head: ReviewSide,
  old?: PlannedResource,
  now?: PlannedResource,
): Change | undefined {
  const r = (now ?? old)!;
  const name = `${stack}-${r.key}`;
  const script = (p: PlannedResource, which: "apply" | "remove") => renderSourced(p.kind, p.entry as never)[which];
  const state = (p: PlannedResource | undefined) => (p ? expectedState(p.kind, p.entry as never) : []);
  const labels = { from: `${name} (${base.label})`, to: `${name} (${head.label})` };
  const kernel = unifiedDiff(state(old).join("\n"), state(now).join("\n"), {
    from: `kernel state (${base.label})`,
    to: `kernel state (${head.label})`,
  });
  const kernelSection = kernel ? ["Kernel state:", "", ...fenced("diff", kernel), ""] : [];
  if (!old || !now) {
    const action: Action = now ? "create" : "delete";
    const body = now ? unifiedDiff("", script(now, "apply"), labels) : script(old!, "remove");
    const what = now ? "The script it will run on the box:" : "The stored remove script it will run on the box:";
    return { action, name, kind: r.kind, fields: [], sections: [...kernelSection, what, "", ...fenced(now ? "diff" : "sh", body), ""] };
  }
  const diff = detailedDiffOf(old.entry as Props, now.entry as Props, kindOf(r.kind).replaceOn as readonly string[]);
  if (Object.keys(diff).length === 0) return undefined;
  const replace = Object.values(diff).some((d) => d.kind.endsWith("_REPLACE"));
  const apply = unifiedDiff(script(old, "apply"), script(now, "apply"), labels);
  const sections = [
    ...kernelSection,
    replace ? "The old one is removed first (its stored remove script), then the new one applied:" : "The script it will run on the box:",
    "",
    ...fenced("diff", apply),
    "",
  ];
  return {
    action: replace ? "replace" : "update",
    name,
    kind: r.kind,
    fields: fieldLines(old.entry as Props, now.entry as Props, diff),
    sections,
  };
}

/** The gateway's provider: how it is reached and what the preflight checks. A change never replaces anything. */
function providerChange(stack: string, base: Site | undefined, head: Site | undefined): Change | undefined {
  const config = (s: Site | undefined): Props => (s ? { ...s.host, preflight: planSite(s).preflight } : {});
  if (!base || !head) return undefined; // created or deleted with its resources
  const diff = detailedDiffOf(config(base), config(head), []);
  if (Object.keys(diff).length === 0) return undefined;
  return {
    action: "update",
    name: stack,
    kind: "provider",
    fields: fieldLines(config(base), config(head), diff),
    sections: ["Nothing runs on the box for this: the resources are reached through it.", ""],
  };
}

export function reviewMarkdown(stack: string, base: ReviewSide, head: ReviewSide): string {
  const plan = (s: Site | undefined) => (s ? planResources(planSite(s)) : []);
  const olds = new Map(plan(base.site).map((r) => [r.key, r]));
  const news = new Map(plan(head.site).map((r) => [r.key, r]));
  const changes: Change[] = [];
  const provider = providerChange(stack, base.site, head.site);
  if (provider) changes.push(provider);
  for (const key of new Set([...news.keys(), ...olds.keys()])) {
    const c = resourceChange(stack, base, head, olds.get(key), news.get(key));
    if (c) changes.push(c);
  }
  const count = (a: Action) => changes.filter((c) => c.action === a).length;
  const unchanged =
    [...news.keys()].filter((k) => olds.has(k)).length -
    changes.filter((c) => c.kind !== "provider" && c.action !== "create" && c.action !== "delete").length;
  const out = [
    `## multiwan: stack ${code(stack)}, ${base.label} → ${head.label}`,
    "",
    changes.length === 0
      ? "No changes on the gateway."
      : `${count("create")} to create, ${count("update")} to update, ${count("replace")} to replace, ${count("delete")} to delete; ${unchanged} unchanged.`,
    "",
  ];
  if (changes.length === 0) return `${out.join("\n")}`;
  out.push("| | resource | changed fields |", "| --- | --- | --- |");
  for (const c of changes) {
    const type = c.kind === "provider" ? "pulumi:providers:multiwan" : `multiwan:index:${c.kind}`;
    out.push(`| ${SYMBOL[c.action]} ${c.action} | ${code(`${type} ${c.name}`)} | ${c.fields.join("<br>") || "—"} |`);
  }
  out.push("");
  for (const c of changes) {
    out.push(`### ${SYMBOL[c.action]} ${c.action} ${code(c.name)} (${c.kind})`, "");
    for (const f of c.fields) out.push(`- ${f}`);
    if (c.fields.length) out.push("");
    out.push(...c.sections);
  }
  return out.join("\n");
}
