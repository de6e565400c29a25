// SSH key pairs for tests. ssh2 1.17's generateKeyPairSync("ed25519") strips
// leading zero bytes from the public key, so about 1 in 256 pairs cannot be
// parsed back (mscdex/ssh2#1513): tests failed at random on it. Generate
// until ssh2 itself accepts both halves.
import { utils as sshUtils } from "ssh2";

type KeyType = "ed25519" | "ecdsa";

export function generateKeyPair(type: KeyType, opts: { comment?: string; bits?: number } = {}): { private: string; public: string } {
  for (let attempt = 0; ; attempt++) {
    const pair = sshUtils.generateKeyPairSync(type as "ed25519", opts as { comment?: string });
    if (!(sshUtils.parseKey(pair.private) instanceof Error) && !(sshUtils.parseKey(pair.public) instanceof Error)) return pair;
    if (attempt >= 20) throw new Error(`ssh2 produced 20 unparsable ${String(type)} key pairs in a row`);
  }
}
