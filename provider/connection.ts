// The `connection` input every resource carries: which gateway, as whom, and
// which host key to expect. The private key is a secret and stays wrapped
// everywhere but in the SSH handshake.
import { z } from "zod";
import { host, requireHostKey } from "../lib/schema";
import type { Connection } from "./ssh";
import { unwrapSecret } from "./secrets";

export const connectionSchema = host
  .extend({ privateKey: z.string().min(1, { error: "is empty" }).optional() })
  // The session pool would refuse it: say so in the preview, not halfway through an up.
  .superRefine((c, ctx) => requireHostKey(c, ctx));

/** Validated and unwrapped, ready for the session pool. */
export function toConnection(raw: unknown): Connection {
  const input = raw as Record<string, unknown>;
  const c = connectionSchema.parse({ ...input, privateKey: unwrapSecret(input?.privateKey) });
  return {
    address: c.address,
    port: c.port,
    user: c.user,
    hostKey: c.hostKey,
    insecureIgnoreHostKey: c.insecureIgnoreHostKey,
    privateKey: c.privateKey,
    commandTimeoutSeconds: c.commandTimeoutSeconds ?? DEFAULT_COMMAND_TIMEOUT_SECONDS,
  };
}

/** How long one script may run on the box unless host.commandTimeoutSeconds says otherwise. */
export const DEFAULT_COMMAND_TIMEOUT_SECONDS = 120;

export const describeTarget = (c: Connection) => `${c.user}@${c.address}:${c.port}`;
