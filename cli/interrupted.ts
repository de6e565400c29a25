// What a run killed with -9 (the CLI, or the machine it ran on) leaves in a
// file backend, and what `npm run pulumi` does about it before the next
// command, so that this command alone converges (issue 15, item 2):
//
// - The stack's lock (.pulumi/locks/...): the CLI refuses every later
//   command ("the stack is currently locked by 1 lock(s)... `pulumi cancel`").
//   A lock taken on this machine by a process that is gone is removed.
// - Pending operations in the checkpoint. A pending CREATE survives every
//   later up and destroy (v3.248 keeps them until `pulumi refresh
//   --clear-pending-creates`, an interactive refresh, or a `stack import`),
//   and the resource is in no state: a destroy would never remove what its
//   create put on the box. A multiwan create converges from whatever it
//   finds, and a multiwan delete removes only what carries our mark, so such
//   a resource is taken into the state with its inputs as its outputs: the
//   next up updates it (its kernel state is unknown), a destroy removes it, a
//   refresh reads it.
// - A pending DELETE of a resource still in the state: its remove script may
//   have run partly, while the state still says "applied as planned", so the
//   next up would find nothing to change. Its recorded kernel state is
//   marked unknown, which the next up repairs.
//
// Only multiwan's resources are adopted; the other pending operations are
// dropped, as `pulumi stack import` drops them.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { isResourceKind, kindOf } from "../lib/render";
import { KERNEL_STATE, UNKNOWN_KERNEL_STATE, entryOf } from "../provider/lifecycle";

export { UNKNOWN_KERNEL_STATE };

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(p) : [p];
  });
}

/** Whether `pid` is a running Pulumi CLI on this machine. */
function isPulumi(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    return path.basename(fs.readlinkSync(`/proc/${pid}/exe`)).startsWith("pulumi");
  } catch {
    return true; // no /proc: a live pid is given the benefit of the doubt
  }
}

/** Removes the locks of CLIs that were killed on this machine; returns what it did, for the user. */
export function removeStaleLocks(stateRoot: string): string[] {
  const notes: string[] = [];
  for (const file of filesUnder(path.join(stateRoot, ".pulumi", "locks"))) {
    if (!file.endsWith(".json")) continue;
    let lock: { pid?: number; hostname?: string; timestamp?: string };
    try {
      lock = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch {
      continue;
    }
    if (lock.hostname !== os.hostname() || typeof lock.pid !== "number" || isPulumi(lock.pid)) continue;
    fs.rmSync(file, { force: true });
    fs.rmSync(`${file}.attrs`, { force: true });
    notes.push(`removed the lock of pulumi (pid ${lock.pid}, ${lock.timestamp ?? "?"}), which was killed before it could release it`);
  }
  return notes;
}

type Json = Record<string, any>;

/** The stack names (fully qualified) whose checkpoint holds pending operations. */
export function stacksWithPendingOperations(stateRoot: string): string[] {
  const found: string[] = [];
  for (const file of filesUnder(path.join(stateRoot, ".pulumi", "stacks"))) {
    if (!file.endsWith(".json")) continue;
    try {
      const cp = JSON.parse(fs.readFileSync(file, "utf8")).checkpoint;
      if (cp?.latest?.pending_operations?.length) found.push(cp.stack);
    } catch {
      /* not a checkpoint */
    }
  }
  return found;
}

/** The deployment (`pulumi stack export`) with multiwan's pending operations settled as described above. */
export function settlePendingOperations(deployment: Json): { deployment: Json; notes: string[] } {
  const resources: Json[] = [...(deployment.resources ?? [])];
  const ops: Json[] = deployment.pending_operations ?? [];
  const byUrn = new Map(resources.map((r, i) => [r.urn as string, i]));
  const providerRefs = new Set(resources.filter((r) => String(r.type).startsWith("pulumi:providers:")).map((r) => `${r.urn}::${r.id}`));
  const adopted: string[] = [];
  const unknown: string[] = [];
  for (const op of ops) {
    const res: Json = op.resource ?? {};
    const kind = String(res.type ?? "").replace(/^multiwan:index:/, "");
    if (!isResourceKind(kind)) continue;
    const name = String(res.urn).split("::").pop();
    const at = byUrn.get(res.urn);
    if (op.type === "creating" && at === undefined && (!res.provider || providerRefs.has(res.provider))) {
      let id = String(name);
      try {
        id = kindOf(kind).id(entryOf(kind, res.inputs ?? {}) as never);
      } catch {
        /* the name will do */
      }
      resources.push({ ...res, id, outputs: { ...(res.inputs ?? {}), [KERNEL_STATE]: UNKNOWN_KERNEL_STATE } });
      adopted.push(String(name));
    } else if (op.type === "deleting" && at !== undefined) {
      resources[at] = { ...resources[at], outputs: { ...resources[at].outputs, [KERNEL_STATE]: UNKNOWN_KERNEL_STATE } };
      unknown.push(String(name));
    }
  }
  const notes: string[] = [];
  if (adopted.length)
    notes.push(`took ${adopted.length} resource(s) whose create was interrupted into the state, to be converged: ${adopted.join(", ")}`);
  if (unknown.length) notes.push(`marked ${unknown.length} resource(s) whose removal was interrupted as unknown: ${unknown.join(", ")}`);
  return { deployment: { ...deployment, resources, pending_operations: [] }, notes };
}

/** A file backend's root directory, or undefined for other backends (the Pulumi Cloud has `pulumi cancel` and its own locks). */
function fileBackend(env: NodeJS.ProcessEnv): string | undefined {
  const url = env.PULUMI_BACKEND_URL ?? "";
  return url.startsWith("file://") ? url.slice("file://".length).replace(/^~(?=\/)/, os.homedir()) : undefined;
}

const say = (msg: string): void => void process.stderr.write(`multiwan: ${msg}\n`);

/** Runs `edit` on the stack's deployment through `stack export` and `stack import`; false when it could not. */
function editDeployment(
  cli: string,
  env: NodeJS.ProcessEnv,
  cwd: string,
  stack: string,
  edit: (deployment: Json) => { deployment: Json; notes: string[] } | undefined,
): string[] | undefined {
  const pulumi = (args: string[]) => spawnSync(cli, args, { cwd, env, encoding: "utf8", maxBuffer: 1 << 30 });
  const exported = pulumi(["stack", "export", "--stack", stack]);
  if (exported.status !== 0) {
    say(`could not read the state of ${stack}: ${exported.stderr.trim()}`);
    return undefined;
  }
  const untyped = JSON.parse(exported.stdout);
  const edited = edit(untyped.deployment ?? {});
  if (!edited) return [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "multiwan-state-"));
  try {
    const file = path.join(tmp, "deployment.json");
    fs.writeFileSync(file, JSON.stringify({ ...untyped, deployment: edited.deployment }));
    const imported = pulumi(["stack", "import", "--stack", stack, "--file", file]);
    if (imported.status !== 0) {
      say(`could not write the state of ${stack}: ${imported.stderr.trim()}`);
      return undefined;
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return edited.notes;
}

/** The stack a command runs on: its --stack, else the selected one. */
function stackName(cli: string, env: NodeJS.ProcessEnv, cwd: string, stackArg: string | undefined): string | undefined {
  if (stackArg) return stackArg;
  const r = spawnSync(cli, ["stack", "--show-name", "--fully-qualify-stack-names"], { cwd, env, encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

const short = (s: string) => s.split("/").pop();

/**
 * Before a command that runs the program: removes stale locks and settles the
 * pending operations of the stack about to run (file backends only). Prints
 * what it did.
 */
export function repairInterrupted(cli: string, env: NodeJS.ProcessEnv, cwd: string, stackArg: string | undefined): void {
  const root = fileBackend(env);
  if (!root) return;
  for (const note of removeStaleLocks(root)) say(note);
  const pending = stacksWithPendingOperations(root);
  if (!pending.length) return;
  const stack = stackName(cli, env, cwd, stackArg);
  const target = stack && pending.find((p) => p === stack || short(p) === short(stack));
  if (!target) return;
  const notes = editDeployment(cli, env, cwd, target, settlePendingOperations);
  if (!notes) return;
  say(`the last run of ${short(target)} was interrupted and left pending operations; settled them (see README, "Interrupted runs")`);
  for (const note of notes) say(note);
}

/** Every multiwan resource of the deployment with its kernel state marked unknown. */
export function markAllUnknown(deployment: Json): { deployment: Json; notes: string[] } | undefined {
  const names: string[] = [];
  const resources = (deployment.resources ?? []).map((r: Json) => {
    if (!isResourceKind(String(r.type ?? "").replace(/^multiwan:index:/, "")) || !r.outputs) return r;
    names.push(String(String(r.urn).split("::").pop()));
    return { ...r, outputs: { ...r.outputs, [KERNEL_STATE]: UNKNOWN_KERNEL_STATE } };
  });
  if (!names.length) return undefined;
  return {
    deployment: { ...deployment, resources },
    notes: [`the destroy did not finish: the ${names.length} resource(s) it left are marked unknown, so the next up applies them again`],
  };
}

/**
 * After a destroy that failed or was killed: the removals that were running
 * may have run partly, yet their resources stay in the state as applied, and
 * the next `up` would find nothing to change. Every resource left is marked
 * unknown instead: `up` applies it again, `destroy` removes it, `refresh`
 * reads it.
 */
export function afterFailedDestroy(cli: string, env: NodeJS.ProcessEnv, cwd: string, stackArg: string | undefined): void {
  const root = fileBackend(env);
  if (!root) return;
  for (const note of removeStaleLocks(root)) say(note);
  const stack = stackName(cli, env, cwd, stackArg);
  if (!stack) return;
  // `stack import` drops every pending operation: settle them in the same edit.
  const notes = editDeployment(cli, env, cwd, stack, (d) => {
    const settled = settlePendingOperations(d);
    const marked = markAllUnknown(settled.deployment);
    return { deployment: marked?.deployment ?? settled.deployment, notes: [...settled.notes, ...(marked?.notes ?? [])] };
  });
  for (const note of notes ?? []) say(note);
}
