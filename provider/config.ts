// The provider's own configuration: which gateway, as whom, with which host
// key, and what the read-only preflight checks there. MultiWanGateway creates
// one explicit `multiwan` provider per gateway with it, so the connection and
// the preflight live once per host instead of in every resource (and a
// changed address, port or key is a provider update that replaces nothing).
//
// A provider configured without `address` is the engine's default provider
// (its config is the stack's `multiwan:*` namespace, e.g. multiwan:sshPrivateKey):
// resources written before the explicit provider still carry their own
// `connection` and `preflight`, and use those.
import { z } from "zod";
import { type Preflight, preflightSchema } from "../lib/render/preflight";
import { connectionSchema, toConnection } from "./connection";
import { type DiffResult, detailedDiffOf, topLevel } from "./propertyDiff";
import { reveal } from "./secrets";
import type { Connection } from "./ssh";

export interface ProviderConfig {
  connection: Connection;
  preflight: Preflight;
  /** Commit-confirmed runs (provider/guard.ts); 0: no guard. */
  rollback: { afterSeconds: number };
}

type Props = Record<string, unknown>;
export interface ConfigFailure {
  property: string;
  reason: string;
}

/** What the engine adds to every provider's inputs. */
const ENGINE_KEYS = ["version"];

/** The site's rollback.afterSeconds (0: no guard). */
const rollbackSchema = z.number().int().min(0).max(600);
const configSchema = connectionSchema.safeExtend({ preflight: preflightSchema, rollbackAfterSeconds: rollbackSchema.optional() });

/** True when the inputs are an explicit multiwan provider's (not the stack-config default provider's). */
export const isExplicit = (inputs: Props) => inputs.address !== undefined;

function withoutEngineKeys(inputs: Props): Props {
  return Object.fromEntries(Object.entries(inputs).filter(([k]) => !ENGINE_KEYS.includes(k)));
}

export function checkConfig(news: Props): { inputs: Props; failures: ConfigFailure[] } {
  if (!isExplicit(news)) return { inputs: news, failures: [] };
  const parsed = configSchema.safeParse(reveal(withoutEngineKeys(news)));
  if (parsed.success) return { inputs: news, failures: [] };
  const failures = parsed.error.issues.flatMap((iss) =>
    iss.code === "unrecognized_keys"
      ? iss.keys.map((key) => ({ property: [...iss.path, key].join("."), reason: "unknown field" }))
      : [{ property: iss.path.join("."), reason: iss.message }],
  );
  return { inputs: news, failures };
}

/** A changed connection or preflight updates the provider in place: nothing on the host depends on how we reach it. */
export function diffConfig(olds: Props, news: Props): DiffResult {
  const detailedDiff = detailedDiffOf(withoutEngineKeys(olds), withoutEngineKeys(news), []);
  const diffs = [...new Set(Object.keys(detailedDiff).map(topLevel))];
  return { changes: diffs.length > 0, replaces: [], diffs, detailedDiff, deleteBeforeReplace: false };
}

/** The explicit provider's configuration, or undefined for the default provider. */
export function parseConfig(inputs: Props): ProviderConfig | undefined {
  if (!isExplicit(inputs)) return undefined;
  const { preflight, rollbackAfterSeconds, ...connection } = withoutEngineKeys(inputs);
  return {
    connection: toConnection(connection),
    preflight: preflightSchema.parse(reveal(preflight)),
    // A provider written before the guard existed has no Confirmation resource to confirm it: no guard.
    rollback: { afterSeconds: rollbackAfterSeconds === undefined ? 0 : rollbackSchema.parse(reveal(rollbackAfterSeconds)) },
  };
}
