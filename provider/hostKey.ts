// Pinned SSH host keys: parsing the "ssh-ed25519 AAAA... [comment]" lines people
// copy from /etc/ssh/ssh_host_*_key.pub or `ssh-keyscan`, and fingerprints in
// OpenSSH's own format so an error message can be compared with `ssh-keygen -lf`.

import { createHash } from "crypto";
import type { ServerHostKeyAlgorithm } from "ssh2";
import { HOST_KEY_TYPES, blobKeyType } from "../lib/publicKey";

export { blobKeyType };

export interface HostKey {
  /** Key type as written in the line and inside the blob, e.g. "ssh-ed25519". */
  type: string;
  /** The raw public key blob (what the server sends during key exchange). */
  blob: Buffer;
  comment?: string;
}

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

/** The same list the site schema accepts (lib/publicKey.ts). */
export const SUPPORTED_HOST_KEY_TYPES: readonly string[] = HOST_KEY_TYPES;

/** The `algorithms.serverHostKey` list for ssh2 that makes the server present a key of this type. */
export function hostKeyAlgorithms(type: string): ServerHostKeyAlgorithm[] {
  const algos = HOST_KEY_ALGORITHMS[type as (typeof HOST_KEY_TYPES)[number]];
  if (!algos) throw new Error(`unsupported host key type ${JSON.stringify(type)}`);
  return algos;
}

/**
 * Parses one public key line. Accepts the authorized_keys / .pub form
 * "<type> <base64> [comment]" and, because `ssh-keyscan` prints it that way,
 * a leading host field "<host> <type> <base64>". Throws a message that says
 * what was expected; it never echoes more than the key type back.
 */
export function parseHostKey(line: string): HostKey {
  const fields = line.trim().split(/\s+/).filter((f) => f.length > 0);
  if (fields.length >= 3 && !SUPPORTED_HOST_KEY_TYPES.includes(fields[0]) && SUPPORTED_HOST_KEY_TYPES.includes(fields[1])) {
    fields.shift(); // "<host> <type> <base64>" from ssh-keyscan
  }
  const [type, b64, ...rest] = fields;
  const expected = `expected a line like "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA... [comment]"`;
  if (!type || !b64) throw new Error(`invalid host key: ${expected}`);
  if (!SUPPORTED_HOST_KEY_TYPES.includes(type)) {
    throw new Error(`invalid host key: unsupported type ${JSON.stringify(type.slice(0, 40))} (supported: ${SUPPORTED_HOST_KEY_TYPES.join(", ")})`);
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new Error(`invalid host key: the key data is not base64; ${expected}`);
  const blob = Buffer.from(b64, "base64");
  // The blob starts with its own type string; OpenSSH refuses a line whose two
  // types disagree, and so do we (it is usually a truncated or mangled paste).
  const inner = blobKeyType(blob);
  if (inner !== type) {
    throw new Error(`invalid host key: the line says ${type} but its key data ${inner === undefined ? "is truncated or malformed" : `is ${inner}`}`);
  }
  const comment = rest.join(" ");
  return comment ? { type, blob, comment } : { type, blob };
}

/** OpenSSH's fingerprint: "SHA256:" + base64 of the SHA-256 of the blob, without "=" padding. */
export function fingerprint(blob: Buffer): string {
  return "SHA256:" + createHash("sha256").update(blob).digest("base64").replace(/=+$/, "");
}

/** "<type> <base64>": the line to pin, e.g. suggested when the key was not verified. */
export function formatHostKey(blob: Buffer): string {
  return `${blobKeyType(blob) ?? "unknown"} ${blob.toString("base64")}`;
}
