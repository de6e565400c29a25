// A read script's output: facts, each a header line `@@ <name>` followed by
// the raw output of one command (`ip -j ...`, `nft -j ...`, a file). The
// prelude's `fact` helper prints them; nothing is normalised on the box, so
// the parsing lives here, in TypeScript, with fixtures of real outputs.

export type Facts = ReadonlyMap<string, string>;

const HEADER = /^@@ (\S+)$/;

export function parseFacts(output: string): Facts {
  const facts = new Map<string, string>();
  let name: string | undefined;
  let lines: string[] = [];
  const flush = () => {
    if (name !== undefined) facts.set(name, [facts.get(name), lines.join("\n")].filter(Boolean).join("\n"));
  };
  for (const line of output.split("\n")) {
    const header = HEADER.exec(line);
    if (header) {
      flush();
      name = header[1];
      lines = [];
    } else if (name !== undefined) {
      lines.push(line);
    }
  }
  flush();
  return facts;
}

/** A fact's text, trimmed; "" when the command printed nothing or failed (e.g. a missing table). */
export function factText(facts: Facts, name: string): string {
  return (facts.get(name) ?? "").trim();
}

/** A fact's non-empty lines. */
export function factLines(facts: Facts, name: string): string[] {
  return factText(facts, name)
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
}

/**
 * A fact parsed as JSON; `empty` when it is absent. Output that is not
 * JSON becomes one state line naming the fact, so it shows as drift
 * instead of passing silently.
 */
export function factJson<T>(facts: Facts, name: string, empty: T): { value: T } | { unreadable: string } {
  const text = factText(facts, name);
  if (text === "") return { value: empty };
  try {
    return { value: JSON.parse(text) as T };
  } catch {
    return { unreadable: `unreadable ${name}: ${text.slice(0, 80).replace(/\s+/g, " ")}` };
  }
}
