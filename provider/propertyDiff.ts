// Field-level diffs in the engine's terms (`diffs` and `detailedDiff`), so a
// preview shows exactly the leaves that change — `nexthops[0].weight: 2 => 3`
// and the one kernel line — instead of whole objects, and a replace names the
// field that forces it. Secrets are compared by their plain values (the same
// key wrapped again is no change) but never leave this module unwrapped.
import { reveal } from "./secrets";

export type PropertyDiffKind = "ADD" | "ADD_REPLACE" | "DELETE" | "DELETE_REPLACE" | "UPDATE" | "UPDATE_REPLACE";

export interface PropertyDiff {
  kind: PropertyDiffKind;
  /** True: compare with the old inputs; false: with the old outputs (kernelState after a refresh). */
  inputDiff: boolean;
}

/** What Diff and DiffConfig answer. */
export interface DiffResult {
  changes: boolean;
  /** Top-level properties that force a replacement. */
  replaces: string[];
  /** Top-level properties that change. */
  diffs: string[];
  /** Property path ("nexthops[0].weight") -> how it changes. */
  detailedDiff: Record<string, PropertyDiff>;
  deleteBeforeReplace: boolean;
}

type Props = Record<string, unknown>;

const isPlainObject = (v: unknown): v is Props => typeof v === "object" && v !== null && !Array.isArray(v);
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const keyPath = (base: string, key: string) => (IDENTIFIER.test(key) ? (base ? `${base}.${key}` : key) : `${base}[${JSON.stringify(key)}]`);

/**
 * The changed leaves between two values: objects are compared key by key and
 * arrays index by index; anything else (or a change of shape) is one leaf.
 * `replaceOn` lists top-level keys whose change replaces the resource.
 */
export function detailedDiffOf(olds: Props, news: Props, replaceOn: readonly string[], inputDiff = true): Record<string, PropertyDiff> {
  const out: Record<string, PropertyDiff> = {};
  const visit = (path: string, top: string, a: unknown, b: unknown) => {
    const replace = replaceOn.includes(top);
    if (a === undefined && b === undefined) return;
    if (a === undefined) out[path] = { kind: replace ? "ADD_REPLACE" : "ADD", inputDiff };
    else if (b === undefined) out[path] = { kind: replace ? "DELETE_REPLACE" : "DELETE", inputDiff };
    else if (isPlainObject(a) && isPlainObject(b)) {
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) visit(keyPath(path, k), top, a[k], b[k]);
    } else if (Array.isArray(a) && Array.isArray(b)) {
      for (let i = 0; i < Math.max(a.length, b.length); i++) visit(`${path}[${i}]`, top, a[i], b[i]);
    } else if (JSON.stringify(a) !== JSON.stringify(b)) {
      out[path] = { kind: replace ? "UPDATE_REPLACE" : "UPDATE", inputDiff };
    }
  };
  const plainOlds = reveal(olds) as Props;
  const plainNews = reveal(news) as Props;
  for (const k of new Set([...Object.keys(plainOlds), ...Object.keys(plainNews)])) visit(keyPath("", k), k, plainOlds[k], plainNews[k]);
  return out;
}

/** The top-level property a path starts with: "nexthops[0].weight" -> "nexthops". */
export const topLevel = (path: string) => path.match(/^[^.[]+|^\["((?:[^"\\]|\\.)*)"\]/)?.[0] ?? path;
