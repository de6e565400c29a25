// The resource lifecycle shared by every type: check and diff are pure (no
// host is contacted, so a preview runs anywhere); create, update, delete and
// read render the entry's scripts and run them through the session pool.
//
// Which host, and what the preflight checks there, comes from the provider's
// configuration (provider/config.ts). Resources written before the explicit
// provider carry their own `connection` and `preflight` (LEGACY_KEYS): they
// are used until the next `up` moves the resource to its gateway's provider,
// an update that changes nothing on the box.
import { randomBytes } from "node:crypto";
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
import type { ProviderConfig } from "./config";
import { connectionSchema, describeTarget, toConnection } from "./connection";
import { Guard } from "./guard";
import { PreflightGate } from "./preflight";
import { type DiffResult, detailedDiffOf, topLevel } from "./propertyDiff";
import { reveal, unwrapSecret } from "./secrets";
import { type Connection, ScriptError, SshConnectionError, type SshPool } from "./ssh";

/** What an unknown kernel state reads as (never what a box prints): the next up applies the resource again. */
export const UNKNOWN_KERNEL_STATE = ["unknown: a run was interrupted here (multiwan will apply it again)"];

/**
 * A create that may have changed the box but did not finish (the connection
 * was lost while its script ran). The engine keeps the resource with these
 * outputs (gRPC ErrorResourceInitFailed): `destroy` removes it, the next `up`
 * updates it, rather than the box carrying what no state knows of.
 */
export class PartialCreateError extends Error {
  constructor(
    readonly id: string,
    readonly outs: Props,
    cause: Error,
  ) {
    super(cause.message);
    this.name = "PartialCreateError";
  }
}

/** Inputs of resources written before the explicit provider; now its configuration. */
const LEGACY_KEYS = ["connection", "preflight"] as const;
/** The desired kernel state: an input once the resource exists, compared with what `read` finds. */
export const KERNEL_STATE = "kernelState";
/** Outputs besides the inputs. */
export const REMOVE_SCRIPT = "removeScript";
/** What the health monitor says (read only): beside kernelState, so an outage is never drift. */
export const HEALTH = "health";
/**
 * A fresh token each time the box was changed for the resource (create, or
 * an update that ran its apply): the run's Confirmation digests these, so it
 * updates, and confirms, exactly when some resource changed the box in this
 * run (a drift repair too, and a change back to the last confirmed inputs).
 */
export const APPLIED = "applied";
const FRAME_KEYS: readonly string[] = [...LEGACY_KEYS, KERNEL_STATE, REMOVE_SCRIPT, HEALTH, APPLIED];
/**
 * The token of a resource whose state was written before the guard existed.
 * An output that is missing from the state is unknown in a preview (the SDK
 * cannot tell it from one still to come), which would make the Confirmation's
 * digest unknown, and every preview of an unchanged stack claim an update.
 */
const BEFORE_GUARD = "before-guard";
const token = () => randomBytes(8).toString("hex");

type Props = Record<string, unknown>;

export function entryOf<K extends ResourceKind>(_kind: K, props: Props): EntryByKind[K] {
  const entry: Props = {};
  for (const [k, v] of Object.entries(props)) {
    if (!FRAME_KEYS.includes(k)) entry[k] = reveal(v); // a field marked secret arrives wrapped
  }
  return entry as unknown as EntryByKind[K];
}

/** What the box is asked to hold: the entry's fields and the kernel state they imply. */
function boxState(kind: ResourceKind, props: Props): Props {
  const state: Props = { ...(entryOf(kind, props) as Props) };
  if (props[KERNEL_STATE] !== undefined) state[KERNEL_STATE] = props[KERNEL_STATE];
  return state;
}

function legacyFrame(props: Props): Props {
  return Object.fromEntries(LEGACY_KEYS.filter((k) => props[k] !== undefined).map((k) => [k, props[k]]));
}

function failures(prefix: string, error: z.ZodError): provider.CheckFailure[] {
  return error.issues.flatMap((iss) => {
    const path = [...(prefix ? [prefix] : []), ...iss.path];
    // One failure per unknown field, at the field itself ("nexthops[0].wieght").
    if (iss.code === "unrecognized_keys") return iss.keys.map((key) => ({ property: formatPath([...path, key]), reason: "unknown field" }));
    return [{ property: formatPath(path) || prefix, reason: iss.message }];
  });
}

/**
 * Validates the entry (and a legacy resource's own connection and preflight).
 * Once the resource exists (`olds` is its state), the kernel state its entry
 * implies joins the inputs: `read` reports the live state in the same field,
 * so refresh shows drift and the next up repairs it. A create leaves it out,
 * so a first preview shows each resource once, as its entry.
 */
export function check<K extends ResourceKind>(kind: K, olds: Props | undefined, news: Props): provider.CheckResult {
  const found: provider.CheckFailure[] = [];
  if (news.connection !== undefined) {
    // Nested secrets (privateKey) or the whole connection marked secret: validate the plain values.
    const conn = (reveal(news.connection) ?? {}) as Props;
    const connResult = connectionSchema.safeParse({ ...conn, privateKey: unwrapSecret(conn.privateKey) });
    if (!connResult.success) found.push(...failures("connection", connResult.error));
  }
  if (news.preflight !== undefined) {
    const preflight = preflightSchema.safeParse(reveal(news.preflight));
    if (!preflight.success) found.push(...failures("preflight", preflight.error));
  }
  const entry = kindOf(kind).schema.safeParse(entryOf(kind, news));
  if (!entry.success) found.push(...failures("", entry.error));
  if (found.length > 0 || !entry.success) return { inputs: news, failures: found };
  const { [KERNEL_STATE]: _stale, ...inputs } = news;
  const exists = olds !== undefined && Object.keys(olds).length > 0;
  return { inputs: exists ? { ...inputs, [KERNEL_STATE]: expectedState(kind, entry.data) } : inputs };
}

/**
 * Field by field against the stored outputs. An entry field in the kind's
 * `replaceOn` replaces the resource; every other change updates it in place.
 * A legacy connection or preflight that changes or moves to the provider is
 * an update that touches nothing on the box.
 */
export function diff<K extends ResourceKind>(kind: K, olds: Props, news: Props): DiffResult {
  const replaceOn = kindOf(kind).replaceOn as readonly string[];
  const detailedDiff = {
    ...detailedDiffOf(boxState(kind, olds), boxState(kind, news), replaceOn),
    ...detailedDiffOf(legacyFrame(olds), legacyFrame(news), []),
  };
  // State written before the guard: the next up records a token, an update that touches nothing on the box (see BEFORE_GUARD).
  if (Object.keys(olds).length > 0 && olds[APPLIED] === undefined) detailedDiff[APPLIED] = { kind: "ADD", inputDiff: false };
  // The kernel state is compared with the outputs: after a refresh they hold what the box really has.
  for (const [path, d] of Object.entries(detailedDiff)) if (topLevel(path) === KERNEL_STATE) d.inputDiff = false;
  const diffs = [...new Set(Object.keys(detailedDiff).map(topLevel))];
  const replaces = diffs.filter((k) => replaceOn.includes(k));
  // A replacement is a new resource, checked afresh without the old kernel
  // state: show the fields that force it, not a kernel state "deleted".
  if (replaces.length > 0) for (const path of Object.keys(detailedDiff)) if (topLevel(path) === KERNEL_STATE) delete detailedDiff[path];
  return {
    changes: diffs.length > 0,
    replaces,
    diffs,
    detailedDiff,
    // Old and new would clash on the host (same priority, table or nft table):
    // remove the old state before adding the new.
    deleteBeforeReplace: replaces.length > 0,
  };
}

export class Lifecycle {
  private readonly gate: PreflightGate;
  readonly guard: Guard;
  /** The explicit provider's; undefined for the default provider (legacy resources bring their own). */
  private config: ProviderConfig | undefined;

  constructor(private readonly pool: SshPool) {
    this.gate = new PreflightGate(pool);
    this.guard = new Guard();
  }

  private afterSeconds(): number {
    return this.config?.rollback.afterSeconds ?? 0;
  }

  /**
   * Before a change: the preflight (for an apply) and the rollback guard,
   * which counts the change as running until `guard.end`. The first apply of
   * a run arms the guard in the preflight's own round trip.
   */
  private async prepare(conn: Connection, props: Props, preflight: boolean): Promise<void> {
    const s = this.afterSeconds();
    const armAlone = async () => {
      await this.pool.runChecked(conn, ["export LC_ALL=C", ...this.guard.armLines(s), ""].join("\n"), "arm the rollback guard");
    };
    if (!preflight) return this.guard.ensure(conn, s, armAlone);
    const spec = this.preflightFor(props);
    if (s <= 0) return this.gate.ensure(conn, spec);
    await this.guard.ensure(conn, s, () =>
      this.gate.started(conn, spec)
        ? this.gate.ensure(conn, spec).then(armAlone)
        : this.gate.ensure(conn, spec, { lines: this.guard.armLines(s), undo: this.guard.disarmScript() }),
    );
  }

  /** The run's Confirmation resource: confirms over a new connection what this process changed (nothing: no SSH). */
  async confirm(): Promise<void> {
    if (this.config) await this.guard.confirm(this.config.connection);
  }

  configure(config: ProviderConfig | undefined): void {
    this.config = config;
  }

  /** Where a resource lives: the provider's host, else (a resource not yet migrated) its own connection. */
  private connectionFor(props: Props): Connection {
    if (this.config) return this.config.connection;
    if (props.connection === undefined) {
      throw new Error("no gateway to connect to: give the multiwan provider its host (MultiWanGateway creates one per gateway)");
    }
    return toConnection(reveal(props.connection));
  }

  private preflightFor(props: Props): Preflight {
    return this.config?.preflight ?? (reveal(props.preflight) as Preflight);
  }

  async create<K extends ResourceKind>(kind: K, name: string, inputs: Props): Promise<provider.CreateResult> {
    // A create must be all or nothing: a failed apply takes back whatever part applied.
    const entry = entryOf(kind, inputs);
    let scripts: Scripts;
    try {
      scripts = await this.apply(kind, name, inputs, (s) => ({ script: s.remove, step: `remove the partial ${kind} ${name}` }));
    } catch (err) {
      // Cut off halfway and not taken back: the state must learn of it.
      if (err instanceof SshConnectionError && err.midScript) {
        throw new PartialCreateError(
          kindOf(kind).id(entry),
          {
            ...inputs,
            [KERNEL_STATE]: UNKNOWN_KERNEL_STATE,
            [REMOVE_SCRIPT]: renderScripts(kind, entry).remove,
          },
          err,
        );
      }
      throw err;
    }
    return {
      id: kindOf(kind).id(entry),
      outs: { ...inputs, [KERNEL_STATE]: expectedState(kind, entry), [REMOVE_SCRIPT]: scripts.remove, [APPLIED]: token() },
    };
  }

  async update<K extends ResourceKind>(kind: K, name: string, olds: Props, news: Props): Promise<provider.UpdateResult> {
    const kernelState = news[KERNEL_STATE] ?? expectedState(kind, entryOf(kind, news));
    const boxChanges = detailedDiffOf(boxState(kind, olds), boxState(kind, { ...news, [KERNEL_STATE]: kernelState }), []);
    if (Object.keys(boxChanges).length === 0) {
      // Only how we reach the box changed (or moved to the provider): the state learns it, the box is untouched.
      return {
        outs: { ...news, [KERNEL_STATE]: kernelState, [REMOVE_SCRIPT]: olds[REMOVE_SCRIPT], [APPLIED]: olds[APPLIED] ?? BEFORE_GUARD },
      };
    }
    // A failed apply puts back the previous state rather than leave it half-changed.
    const scripts = await this.apply(kind, name, news, () => ({
      script: renderScripts(kind, entryOf(kind, olds)).apply,
      step: `restore the previous ${kind} ${name}`,
    }));
    return { outs: { ...news, [KERNEL_STATE]: kernelState, [REMOVE_SCRIPT]: scripts.remove, [APPLIED]: token() } };
  }

  /** `endsRun`: nothing of this run follows the removal (a resource that left the site, in an up): it confirms. */
  async delete(kind: ResourceKind, name: string, props: Props, endsRun = false): Promise<void> {
    const conn = this.connectionFor(props);
    // The stored script: it undoes what was applied, even if the renderer changed since.
    const script =
      typeof props[REMOVE_SCRIPT] === "string" ? (props[REMOVE_SCRIPT] as string) : renderScripts(kind, entryOf(kind, props)).remove;
    const late = this.guard.wasConfirmed(conn);
    await this.prepare(conn, props, false);
    try {
      await this.pool.runChecked(conn, this.guard.hold(conn, script), `remove ${kind} ${name}`);
    } finally {
      this.guard.end(conn);
    }
    // On destroy GatewayHost goes last: its removal ends the run. A removal
    // after this process confirmed (the engine deletes last) confirms itself.
    if (late || endsRun || kind === "GatewayHost") await this.guard.confirm(conn);
  }

  async read<K extends ResourceKind>(kind: K, name: string, id: string, props: Props): Promise<provider.ReadResult> {
    const conn = this.connectionFor(props);
    const entry = entryOf(kind, props);
    const result = await this.pool.runChecked(conn, renderScripts(kind, entry).read, `read ${kind} ${name}`);
    const kernelState = parseState(kind, entry, result.stdout);
    const health = parseHealth(kind, entry, result.stdout);
    const inputs: Props = {};
    for (const [k, v] of Object.entries(props)) if (k !== REMOVE_SCRIPT && k !== HEALTH && k !== APPLIED) inputs[k] = v;
    return { id, props: { ...props, kernelState, ...(health?.length ? { [HEALTH]: health } : {}) }, inputs: { ...inputs, kernelState } };
  }

  /** The preflight, then the entry's apply script; when that fails, `undo`'s script, and both are reported. */
  private async apply<K extends ResourceKind>(
    kind: K,
    name: string,
    props: Props,
    undo: (scripts: Scripts) => { script: string; step: string },
  ): Promise<Scripts> {
    const conn = this.connectionFor(props);
    const late = this.guard.wasConfirmed(conn);
    await this.prepare(conn, props, true);
    const scripts = renderScripts(kind, entryOf(kind, props));
    try {
      await this.pool.runChecked(conn, this.guard.hold(conn, scripts.apply), `apply ${kind} ${name}`);
    } catch (err) {
      const { script, step } = undo(scripts);
      const reported = await this.rolledBack(err, conn, script, step);
      this.guard.end(conn);
      throw this.withDeadline(conn, reported);
    }
    this.guard.end(conn);
    if (late) await this.guard.confirm(conn);
    return scripts;
  }

  /** A failed run leaves its guard armed: say when the box undoes the rest of the run. */
  private withDeadline(conn: Connection, err: Error): Error {
    const at = this.guard.deadline(conn);
    if (!at) return err;
    return new Error(
      `${err.message}\nThe rollback guard of this run is still armed: unless a later run confirms, the box returns to its state before this run at ${at}.`,
    );
  }

  private async rolledBack(err: unknown, conn: Connection, script: string, step: string): Promise<Error> {
    const cause = err instanceof Error ? err : new Error(String(err));
    if (!(err instanceof ScriptError)) return cause;
    try {
      await this.pool.runChecked(conn, this.guard.hold(conn, script), step);
      return new Error(`${cause.message}\nThe change was rolled back (${step}); ${describeTarget(conn)} is as before.`);
    } catch (second) {
      return new Error(`${cause.message}\nRolling back also failed (${step}): ${(second as Error).message}`);
    }
  }
}
