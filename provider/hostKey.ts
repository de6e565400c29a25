// Pinned SSH host keys: what the SSH pool needs beyond the parser in
// lib/publicKey.ts (which the site schema uses too): the host key algorithms
// to offer for a pinned key, and fingerprints in OpenSSH's own format so an
// error message can be compared with `ssh-keygen -lf`.

import { createHash } from "node:crypto";
import type { ServerHostKeyAlgorithm } from "ssh2";
import { type HOST_KEY_TYPES, blobKeyType, parsePublicKeyLine, type PublicKeyLine } from "../lib/publicKey";

export { blobKeyType };

export type HostKey = PublicKeyLine;

// Host key types ssh2 can verify, mapped to the host key algorithms to offer
// so that a server holding several host keys presents the pinned one.
// An RSA key ("ssh-rsa" blob) is used with the SHA-2 signature algorithms first.
const HOST_KEY_ALGORITHMS: Record<(typeof HOST_KEY_TYPES)[number], ServerHostKeyAlgorithm[]> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
};

/** The `algorithms.serverHostKey` list for ssh2 that makes the server present a key of this type. */
export function hostKeyAlgorithms(type: string): ServerHostKeyAlgorithm[] {
  const algos = HOST_KEY_ALGORITHMS[type as (typeof HOST_KEY_TYPES)[number]];
  if (!algos) throw new Error(`unsupported host key type ${JSON.stringify(type)}`);
  return algos;
}

/**
 * The pinned key of a connection, parsed by the one parser the site schema
 * uses; throws its sentence (it never echoes more than the key type back).
 */
export function parseHostKey(line: string): HostKey {
  const parsed = parsePublicKeyLine(line);
  if (typeof parsed === "string") throw new Error(`invalid host key: ${parsed}`);
  return parsed;
}

/** OpenSSH's fingerprint: "SHA256:" + base64 of the SHA-256 of the blob, without "=" padding. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** "<type> <base64>": the line to pin, e.g. suggested when the key was not verified. */
export function formatHostKey(blob: Buffer): string {
  return `${blobKeyType(blob) ?? "unknown"} ${blob.toString("base64")}`;
}
