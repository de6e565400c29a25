// One entry point for validating a site, used by `npm run validate`, the
// program (index.ts) and the provider's check, so all three report the same
// problems in the same words: "<path>: <sentence>", one per line.
import type { z } from "zod";
import { FIELDS_BY_PATH, type Site, formatPath, siteSchema } from "./schema";

export type SiteResult = { ok: true; site: Site } | { ok: false; problems: string[] };

export function validateSite(raw: unknown): SiteResult {
  const result = siteSchema.safeParse(raw, { reportInput: true });
  if (result.success) return { ok: true, site: result.data };
  return { ok: false, problems: describeIssues(result.error.issues) };
}

/** Thrown by the program when the stack's site is invalid; carries the report. */
export class SiteValidationError extends Error {
  constructor(
    readonly problems: string[],
    where = "gateway:site",
  ) {
    super(
      `${where} is invalid (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${problems.map((p) => `  ${p}`).join("\n")}`,
    );
    this.name = "SiteValidationError";
  }
}

export function parseSiteOrThrow(raw: unknown, where?: string): Site {
  const result = validateSite(raw);
  if (!result.ok) throw new SiteValidationError(result.problems, where);
  return result.site;
}

/** Turns zod's issues into lines that start with the path of the field. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  const lines: string[] = [];
  for (const iss of issues) {
    const path = iss.path;
    if (iss.code === "unrecognized_keys") {
      const known = FIELDS_BY_PATH[path.filter((p) => typeof p === "string").join(".")] ?? [];
      for (const key of iss.keys) lines.push(`${formatPath([...path, key]) || key}: unknown field${suggestion(key, known)}`);
      continue;
    }
    lines.push(`${formatPath(path) || "(site)"}: ${message(iss)}`);
  }
  return [...new Set(lines)];
}

function message(iss: z.core.$ZodIssue): string {
  const input = (iss as { input?: unknown }).input;
  switch (iss.code) {
    case "invalid_type":
      if (input === undefined) return "is required";
      if (iss.expected === "int" && !iss.message.startsWith("Invalid input")) return iss.message;
      return `must be ${article(iss.expected)}, not ${describe(input)}`;
    // zod's own wording ("Too small: expected number to be >=1") is replaced;
    // messages the schema wrote itself are kept.
    case "too_small":
      if (iss.origin === "number" && iss.message.startsWith("Too small")) return `must be at least ${iss.minimum}`;
      return iss.message;
    case "too_big":
      if (iss.origin === "number" && iss.message.startsWith("Too big")) return `must be at most ${iss.maximum}`;
      return iss.message;
    case "invalid_value":
      return `must be one of ${iss.values.map((v) => JSON.stringify(v)).join(", ")}, not ${describe(input)}`;
    default:
      return iss.message;
  }
}

function article(expected: string): string {
  if (expected === "object") return "a mapping";
  if (expected === "array") return "a list";
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return `the text ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return `${typeof value} ${String(value)}`;
}

/** A "did you mean" for typos such as `wieght`, among the fields of the same mapping. */
function suggestion(key: string, known: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const field of known) {
    const d = distance(key.toLowerCase(), field.toLowerCase());
    if (field !== key && d < bestDistance) {
      best = field;
      bestDistance = d;
    }
  }
  return best ? ` (did you mean "${best}"?)` : "";
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}
