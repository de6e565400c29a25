// Public key lines as in authorized_keys / .pub files ("<type> <base64> [comment]")
// and as `ssh-keyscan` prints them, with the host first ("<host> <type> <base64>").
// The one parser of host keys: the site schema, the provider's connection
// check and the SSH pool all call parsePublicKeyLine, so a line one of them
// accepts is never refused (or read differently) by another.

export const HOST_KEY_TYPES = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"] as const;

export interface PublicKeyLine {
  type: string;
  /** The raw key blob (what the server presents during the handshake). */
  blob: Buffer;
  /** Free text after the key, e.g. "root@gateway"; absent when the line has none. */
  comment?: string;
}

const ONE_LINE = 'must be one line "<type> <base64 key> [comment]", e.g. "ssh-ed25519 AAAAC3Nza..." as in known_hosts';

/**
 * Parses a key line, or returns a sentence saying what is wrong with it.
 * The blob must decode and name the same type as the line, which catches
 * truncated or mispasted keys before a connection is ever tried.
 */
export function parsePublicKeyLine(text: string): PublicKeyLine | string {
  const match = /^([a-z0-9-]+) ([A-Za-z0-9+/]+={0,2})(?: ([\x21-\x7e][\x20-\x7e]*))?$/.exec(withoutHostField(text));
  if (!match) return ONE_LINE;
  const [, type, base64, comment] = match;
  if (!(HOST_KEY_TYPES as readonly string[]).includes(type)) {
    return `key type "${type}" is not supported; use one of ${HOST_KEY_TYPES.join(", ")}`;
  }
  const blob = Buffer.from(base64, "base64");
  if (blob.length < 4 || blob.toString("base64") !== base64) return "the key's base64 text is damaged";
  const embedded = blobKeyType(blob);
  if (embedded === undefined) return "the key's base64 text is damaged";
  if (embedded !== type) return `the key data is a "${embedded}" key, not "${type}": the line is mispasted`;
  if (type === "ssh-ed25519" && blob.length !== 51) return "the ssh-ed25519 key data has the wrong length";
  return comment === undefined ? { type, blob } : { type, blob, comment };
}

/**
 * The line without ssh-keyscan's leading host field ("192.168.3.100",
 * "[gw]:2222", a hashed "|1|..."), if it has one. The field after the host is
 * a key type, which always holds a "-"; in a line without a host that field
 * is the base64 key, whose alphabet has no "-". So this never mistakes a key
 * or a comment for a host.
 */
function withoutHostField(text: string): string {
  const match = /^[\x21-\x7e]+ ([a-z0-9@.]*-[a-z0-9@.-]*) /.exec(text);
  return match ? text.slice(match[0].length - match[1].length - 1) : text;
}

/** The key type string at the start of an SSH public key blob, or undefined if malformed. */
export function blobKeyType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) return undefined;
  const type = blob.subarray(4, 4 + len).toString("latin1");
  return /^[\x21-\x7e]+$/.test(type) ? type : undefined;
}
