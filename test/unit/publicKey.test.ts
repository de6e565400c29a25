// lib/publicKey.ts: the one host-key parser behind the site schema, the
// provider's connection check and the SSH pool. It takes a key the way people
// copy it: from a .pub file (with or without its comment) or from
// `ssh-keyscan`, which prints the host first.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { describe, test } from "node:test";
import { parsePublicKeyLine, type PublicKeyLine } from "../../lib/publicKey";

/** "ssh-ed25519 <base64>" of a fresh key, and its blob. */
function ed25519(): { line: string; blob: Buffer } {
  const raw = Buffer.from(generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }).x!, "base64url");
  const field = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  const blob = Buffer.concat([field(Buffer.from("ssh-ed25519")), field(raw)]);
  return { line: `ssh-ed25519 ${blob.toString("base64")}`, blob };
}

function parsed(text: string): PublicKeyLine {
  const result = parsePublicKeyLine(text);
  assert.ok(typeof result !== "string", `expected "${text}" to parse; got: ${result}`);
  return result;
}

describe("parsePublicKeyLine", () => {
  const { line, blob } = ed25519();

  test("a bare key", () => {
    assert.deepEqual(parsed(line), { type: "ssh-ed25519", blob });
  });

  test("a key with a comment, spaces included", () => {
    assert.deepEqual(parsed(`${line} root@gateway (rotated 2024)`), { type: "ssh-ed25519", blob, comment: "root@gateway (rotated 2024)" });
  });

  test("an ssh-keyscan line: the host comes first", () => {
    assert.deepEqual(parsed(`192.168.3.100 ${line}`), { type: "ssh-ed25519", blob });
    assert.deepEqual(parsed(`gw-1.example.net ${line} root@gw`), { type: "ssh-ed25519", blob, comment: "root@gw" });
  });

  test("an ssh-keyscan line for another port: [host]:port comes first", () => {
    assert.deepEqual(parsed(`[192.168.3.100]:2222 ${line}`), { type: "ssh-ed25519", blob });
    assert.deepEqual(parsed(`[gw]:2222 ${line} comment`), { type: "ssh-ed25519", blob, comment: "comment" });
  });

  test("garbage is refused with the expected shape", () => {
    for (const text of ["garbage", "", "192.168.3.100", "192.168.3.100 ssh-ed25519", `${line}\n${line}`, `  ${line}`, `${line}\tcomment`]) {
      assert.equal(
        parsePublicKeyLine(text),
        'must be one line "<type> <base64 key> [comment]", e.g. "ssh-ed25519 AAAAC3Nza..." as in known_hosts',
        JSON.stringify(text),
      );
    }
    assert.equal(parsePublicKeyLine(line.slice(0, -1)), "the key's base64 text is damaged");
  });

  test("an unknown key type is named, with or without the host first", () => {
    const dss = "ssh-dss AAAAB3NzaC1kc3MAAACBAP";
    for (const text of [dss, `192.168.3.100 ${dss}`, `[gw]:2222 ${dss} root@gw`]) {
      assert.match(String(parsePublicKeyLine(text)), /^key type "ssh-dss" is not supported; use one of ssh-ed25519, /, text);
    }
  });

  test("a line whose type and key data disagree is a mispaste, whether or not the host comes first", () => {
    const mispasted = line.replace("ssh-ed25519", "ssh-rsa");
    for (const text of [mispasted, `192.168.3.100 ${mispasted}`]) {
      assert.equal(parsePublicKeyLine(text), 'the key data is a "ssh-ed25519" key, not "ssh-rsa": the line is mispasted');
    }
  });
});
