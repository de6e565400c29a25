// Public key lines as in authorized_keys / known_hosts: "<type> <base64> [comment]".

export const HOST_KEY_TYPES = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
] as const;

export interface PublicKeyLine {
  type: string;
  /** The raw key blob (what the server presents during the handshake). */
  blob: Buffer;
}

/**
 * Parses a key line, or returns a sentence saying what is wrong with it.
 * The blob must decode and name the same type as the line, which catches
 * truncated or mispasted keys before a connection is ever tried.
 */
export function parsePublicKeyLine(text: string): PublicKeyLine | string {
  const match = /^([a-z0-9-]+) ([A-Za-z0-9+/]+={0,2})(?: [\x21-\x7e][\x20-\x7e]*)?$/.exec(text);
  if (!match) return 'must be one line "<type> <base64 key> [comment]", e.g. "ssh-ed25519 AAAAC3Nza..." as in known_hosts';
  const [, type, base64] = match;
  if (!(HOST_KEY_TYPES as readonly string[]).includes(type)) {
    return `key type "${type}" is not supported; use one of ${HOST_KEY_TYPES.join(", ")}`;
  }
  const blob = Buffer.from(base64, "base64");
  if (blob.length < 4 || blob.toString("base64") !== base64) return "the key's base64 text is damaged";
  const embedded = blobKeyType(blob);
  if (embedded === undefined) return "the key's base64 text is damaged";
  if (embedded !== type) return `the key data is a "${embedded}" key, not "${type}": the line is mispasted`;
  if (type === "ssh-ed25519" && blob.length !== 51) return "the ssh-ed25519 key data has the wrong length";
  return { type, blob };
}

/** The key type string at the start of an SSH public key blob, or undefined if malformed. */
export function blobKeyType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) return undefined;
  const type = blob.subarray(4, 4 + len).toString("latin1");
  return /^[\x21-\x7e]+$/.test(type) ? type : undefined;
}
