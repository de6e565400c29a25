// The resource lifecycle shared by every type: check and diff are pure (no
// host is contacted, so a preview runs anywhere); create, update, delete and
// read render the entry's scripts and run them through the session pool.
import type * as provider from "@pulumi/pulumi/provider";
import type { z } from "zod";
import {
  type EntryByKind,
  type ResourceKind,
  type Scripts,
  expectedState,
  kindOf,
  parseHealth,
  parseState,
  renderScripts,
} from "../lib/render";
import { type Preflight, preflightSchema } from "../lib/render/preflight";
import { formatPath } from "../lib/schema";
import { connectionSchema, describeTarget, toConnection } from "./connection";
import { PreflightGate } from "./preflight";
import { reveal, unwrapSecret } from "./secrets";
import { type Connection, ScriptError, type SshPool } from "./ssh";

/** Inputs besides the entry's own fields. */
const FRAME_KEYS = ["connection", "preflight", "kernelState"] as const;
/** Outputs besides the inputs. */
export const REMOVE_SCRIPT = "removeScript";
/** What the health monitor says (read only): beside kernelState, so an outage is never drift. */
export const HEALTH = "health";

type Props = Record<string, unknown>;

export function entryOf<K extends ResourceKind>(_kind: K, props: Props): EntryByKind[K] {
  const entry: Props = {};
  for (const [k, v] of Object.entries(props)) {
    if (!(FRAME_KEYS as readonly string[]).includes(k) && k !== REMOVE_SCRIPT && k !== HEALTH) entry[k] = reveal(v); // a field marked secret arrives wrapped
  }
  return entry as unknown as EntryByKind[K];
}

function failures(prefix: string, error: z.ZodError): provider.CheckFailure[] {
  return error.issues.flatMap((iss) => {
    const path = [...(prefix ? [prefix] : []), ...iss.path];
    // One failure per unknown field, at the field itself ("nexthops[0].wieght").
    if (iss.code === "unrecognized_keys") return iss.keys.map((key) => ({ property: formatPath([...path, key]), reason: "unknown field" }));
    return [{ property: formatPath(path) || prefix, reason: iss.message }];
  });
}

export function check<K extends ResourceKind>(kind: K, news: Props): provider.CheckResult {
  const found: provider.CheckFailure[] = [];
  // Nested secrets (privateKey) or the whole connection marked secret: validate the plain values.
  const conn = (reveal(news.connection) ?? {}) as Props;
  const connResult = connectionSchema.safeParse({ ...conn, privateKey: unwrapSecret(conn.privateKey) });
  if (!connResult.success) found.push(...failures("connection", connResult.error));
  const preflight = preflightSchema.safeParse(reveal(news.preflight));
  if (!preflight.success) found.push(...failures("preflight", preflight.error));
  const entry = kindOf(kind).schema.safeParse(entryOf(kind, news));
  if (!entry.success) found.push(...failures("", entry.error));
  if (found.length > 0 || !entry.success) return { inputs: news, failures: found };
  // The desired kernel state joins the inputs: `read` reports the live state
  // in the same field, so refresh shows drift and the next up repairs it.
  return { inputs: { ...news, kernelState: expectedState(kind, entry.data) } };
}

export function diff<K extends ResourceKind>(kind: K, olds: Props, news: Props): provider.DiffResult {
  const fields = [...Object.keys(entryOf(kind, news)), ...Object.keys(entryOf(kind, olds)), "kernelState"];
  const changed = [...new Set(fields)].filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
  const connectionChanged = JSON.stringify(reveal(olds.connection)) !== JSON.stringify(reveal(news.connection));
  const replaces = changed.filter((k) => (kindOf(kind).replaceOn as readonly string[]).includes(k));
  return {
    changes: changed.length > 0 || connectionChanged,
    replaces,
    // Old and new would clash on the host (same priority, table or nft table):
    // remove the old state before adding the new.
    deleteBeforeReplace: replaces.length > 0,
  };
}

export class Lifecycle {
  private readonly gate: PreflightGate;

  constructor(private readonly pool: SshPool) {
    this.gate = new PreflightGate(pool);
  }

  async create<K extends ResourceKind>(kind: K, name: string, inputs: Props): Promise<provider.CreateResult> {
    // A create must be all or nothing: a failed apply takes back whatever part applied.
    const scripts = await this.apply(kind, name, inputs, (s) => ({ script: s.remove, step: `remove the partial ${kind} ${name}` }));
    return { id: kindOf(kind).id(entryOf(kind, inputs)), outs: { ...inputs, [REMOVE_SCRIPT]: scripts.remove } };
  }

  async update<K extends ResourceKind>(kind: K, name: string, olds: Props, news: Props): Promise<provider.UpdateResult> {
    const onlyConnection = !diff(kind, olds, { ...news, connection: olds.connection }).changes;
    if (onlyConnection) {
      // Nothing changes on the host; the state just learns the new connection.
      return { outs: { ...news, [REMOVE_SCRIPT]: olds[REMOVE_SCRIPT] } };
    }
    // A failed apply puts back the previous state rather than leave it half-changed.
    const scripts = await this.apply(kind, name, news, () => ({
      script: renderScripts(kind, entryOf(kind, olds)).apply,
      step: `restore the previous ${kind} ${name}`,
    }));
    return { outs: { ...news, [REMOVE_SCRIPT]: scripts.remove } };
  }

  async delete(kind: ResourceKind, name: string, props: Props): Promise<void> {
    const conn = toConnection(reveal(props.connection));
    // The stored script: it undoes what was applied, even if the renderer changed since.
    const script =
      typeof props[REMOVE_SCRIPT] === "string" ? (props[REMOVE_SCRIPT] as string) : renderScripts(kind, entryOf(kind, props)).remove;
    await this.pool.runChecked(conn, script, `remove ${kind} ${name}`);
  }

  async read<K extends ResourceKind>(kind: K, name: string, id: string, props: Props): Promise<provider.ReadResult> {
    const conn = toConnection(reveal(props.connection));
    const entry = entryOf(kind, props);
    const result = await this.pool.runChecked(conn, renderScripts(kind, entry).read, `read ${kind} ${name}`);
    const kernelState = parseState(kind, entry, result.stdout);
    const health = parseHealth(kind, entry, result.stdout);
    const inputs: Props = {};
    for (const [k, v] of Object.entries(props)) if (k !== REMOVE_SCRIPT && k !== HEALTH) inputs[k] = v;
    return { id, props: { ...props, kernelState, ...(health ? { [HEALTH]: health } : {}) }, inputs: { ...inputs, kernelState } };
  }

  /** The preflight, then the entry's apply script; when that fails, `undo`'s script, and both are reported. */
  private async apply<K extends ResourceKind>(
    kind: K,
    name: string,
    props: Props,
    undo: (scripts: Scripts) => { script: string; step: string },
  ): Promise<Scripts> {
    const conn = toConnection(reveal(props.connection));
    await this.gate.ensure(conn, reveal(props.preflight) as Preflight);
    const scripts = renderScripts(kind, entryOf(kind, props));
    try {
      await this.pool.runChecked(conn, scripts.apply, `apply ${kind} ${name}`);
    } catch (err) {
      const { script, step } = undo(scripts);
      throw await this.rolledBack(err, conn, script, step);
    }
    return scripts;
  }

  private async rolledBack(err: unknown, conn: Connection, script: string, step: string): Promise<Error> {
    const cause = err instanceof Error ? err : new Error(String(err));
    if (!(err instanceof ScriptError)) return cause;
    try {
      await this.pool.runChecked(conn, script, step);
      return new Error(`${cause.message}\nThe change was rolled back (${step}); ${describeTarget(conn)} is as before.`);
    } catch (second) {
      return new Error(`${cause.message}\nRolling back also failed (${step}): ${(second as Error).message}`);
    }
  }
}
