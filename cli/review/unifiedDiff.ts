// A unified diff of two texts (`diff -u` style, 3 lines of context), in
// TypeScript so `npm run review` needs no tool and gives the same bytes
// everywhere. Scripts are a few hundred lines: a plain LCS table is enough.
const CONTEXT = 3;

type Op = { kind: " " | "-" | "+"; line: string };

function ops(a: string[], b: string[]): Op[] {
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push({ kind: " ", line: a[i++] });
      j++;
    } else if (i < a.length && (j === b.length || lcs[i + 1][j] >= lcs[i][j + 1])) out.push({ kind: "-", line: a[i++] });
    else out.push({ kind: "+", line: b[j++] });
  }
  return out;
}

const splitLines = (text: string) => (text === "" ? [] : text.replace(/\n$/, "").split("\n"));

/** "" when the texts are equal. */
export function unifiedDiff(before: string, after: string, labels: { from: string; to: string }): string {
  const all = ops(splitLines(before), splitLines(after));
  const changed = all.map((o, k) => (o.kind !== " " ? k : -1)).filter((k) => k >= 0);
  if (changed.length === 0) return "";
  const out = [`--- ${labels.from}`, `+++ ${labels.to}`];
  let k = 0;
  while (k < changed.length) {
    // A hunk: changes no further apart than twice the context, with context around them.
    let last = k;
    while (last + 1 < changed.length && changed[last + 1] - changed[last] <= 2 * CONTEXT) last++;
    const start = Math.max(0, changed[k] - CONTEXT);
    const end = Math.min(all.length, changed[last] + CONTEXT + 1);
    const before = all.slice(0, start);
    const hunk = all.slice(start, end);
    const oldStart = before.filter((o) => o.kind !== "+").length;
    const newStart = before.filter((o) => o.kind !== "-").length;
    const oldLen = hunk.filter((o) => o.kind !== "+").length;
    const newLen = hunk.filter((o) => o.kind !== "-").length;
    out.push(`@@ -${oldLen ? oldStart + 1 : oldStart},${oldLen} +${newLen ? newStart + 1 : newStart},${newLen} @@`);
    for (const o of hunk) out.push(`${o.kind}${o.line}`);
    k = last + 1;
  }
  return `${out.join("\n")}\n`;
}
