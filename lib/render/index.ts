// Kind + entry -> the scripts the provider runs and the state it compares.
// Every kind's own part lives in lib/kinds/<kind>.ts; what all kinds share
// is here: the boot copy each apply keeps, and reading state back.
import { type EntryByKind, type ResourceKind, kindOf } from "../kinds";
import { canonical } from "../kinds/kind";
import { factLines, parseFacts } from "../facts/sections";
import { guardSteps } from "../ownership";
import { bootCopyPath, forgetForBoot, keepForBoot, recordUndo, undoCopyPath } from "./boot";
import { type Scripts, inlinePrelude, sourcedScript } from "./shell";

export function resourceKey<K extends ResourceKind>(kind: K, entry: EntryByKind[K]): string {
  return kindOf(kind).key(entry);
}

/** Where the resource keeps its apply script for the boot runner. */
export function bootCopyOf<K extends ResourceKind>(kind: K, entry: EntryByKind[K]): string {
  return bootCopyPath(kindOf(kind).bootOrder, resourceKey(kind, entry));
}

/** Where the resource records its remove script before its apply changes anything. */
export function undoCopyOf<K extends ResourceKind>(kind: K, entry: EntryByKind[K]): string {
  return undoCopyPath(kindOf(kind).bootOrder, resourceKey(kind, entry));
}

/** The ownership guard and a blank line, or nothing for a kind that claims nothing. */
const guarded = (guard: string[]) => (guard.length ? [...guard, ""] : []);

/**
 * The scripts as the box keeps them: each sources /etc/multiwan/lib.sh.
 * The apply is the boot copy itself, and first refuses what is not ours
 * (a route another tool put in our table at boot stops it, not replaced); remove is the undo record itself: it
 * forgets the boot copy first, so a reboot halfway through a removal does
 * not bring back what is being removed, and its own record last, once all
 * is undone; read also reports whether the boot copy is there.
 */
export function renderSourced<K extends ResourceKind>(kind: K, entry: EntryByKind[K]): Scripts {
  const k = kindOf(kind);
  const title = k.title(entry);
  const copy = bootCopyOf(kind, entry);
  const undo = undoCopyOf(kind, entry);
  return {
    apply: sourcedScript(title, "apply", [...guarded(guardSteps(k.owns(entry))), ...k.apply(entry)]),
    remove: sourcedScript(title, "remove", [
      ...forgetForBoot(copy).slice(1),
      "",
      ...k.remove(entry),
      "",
      `step "forget the undo record ${undo}"`,
      `[ ! -e ${undo} ] || run rm -f ${undo}`,
    ]),
    read: sourcedScript(title, "read", [...k.read(entry), `fact boot-copy ls ${copy}`]),
  };
}

/**
 * The scripts the provider runs: self-contained (prelude inlined). The apply
 * first checks that what it would change is ours (before the record, which
 * would make a table or chain of our name look ours), then records the
 * remove script on the box, then changes the host, then keeps itself as the
 * boot copy.
 */
export function renderScripts<K extends ResourceKind>(kind: K, entry: EntryByKind[K]): Scripts {
  const k = kindOf(kind);
  const sourced = renderSourced(kind, entry);
  const recorded = sourcedScript(k.title(entry), "apply", [
    ...guarded(guardSteps(k.owns(entry))),
    ...recordUndo(undoCopyOf(kind, entry), sourced.remove),
    "",
    ...k.apply(entry),
  ]);
  return {
    apply: [inlinePrelude(recorded).trimEnd(), ...keepForBoot(bootCopyOf(kind, entry), sourced.apply), ""].join("\n"),
    remove: inlinePrelude(sourced.remove),
    read: inlinePrelude(sourced.read),
  };
}

/** The canonical state lines of a host that matches the entry. */
export function expectedState<K extends ResourceKind>(kind: K, entry: EntryByKind[K]): string[] {
  return canonical([...kindOf(kind).expected(entry), `boot copy ${bootCopyOf(kind, entry)}`]);
}

/** What `read` printed -> canonical state lines, to compare with expectedState. */
export function parseState<K extends ResourceKind>(kind: K, entry: EntryByKind[K], output: string): string[] {
  const facts = parseFacts(output);
  return canonical([...kindOf(kind).parse(facts, entry), ...factLines(facts, "boot-copy").map((l) => `boot copy ${l}`)]);
}

/** What the health monitor says about the resource's uplinks (the `health` output); undefined for kinds that use none. */
export function parseHealth<K extends ResourceKind>(kind: K, entry: EntryByKind[K], output: string): string[] | undefined {
  return kindOf(kind).health?.(parseFacts(output), entry);
}

export { KINDS, isResourceKind, kindOf } from "../kinds";
export type { EntryByKind, ResourceKind } from "../kinds";
export { LIB_PATH, PRELUDE, sh } from "./shell";
export type { Scripts } from "./shell";
