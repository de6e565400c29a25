// The fault-injection cases (issue 15, item 8), drawn from a seed: the same
// seed and the same scripts per run give the same cases, in the same order.
// A point is "script N of the run, before its step K" (lab/faults.ts), never
// a moment in wall time.

export type Fault = "kill-provider" | "kill-cli" | "sigint" | "cut-relay" | "hang";
/** The interrupted run: a first up (from a bare gateway), an up that changes the weights, a destroy. */
export type Phase = "first-up" | "weight-up" | "destroy";
/** What is run afterwards, alone: it must converge exactly. */
export type Recovery = "up" | "destroy" | "refresh+up";

export const RECOVERIES: readonly Recovery[] = ["up", "destroy", "refresh+up"];

export interface FaultCase {
  id: string;
  fault: Fault;
  phase: Phase;
  /** The Nth script the run starts on the box (1-based); 0 for a hung command (no gate). */
  script: number;
  /** Before which of its steps the script is held (0: before it starts; counted modulo its steps). */
  step: number;
  recovery: Recovery;
}

/** Scripts a clean run of each phase starts on the box, as counted by the calibration runs. */
export type ScriptCounts = Record<Phase, number>;

/** mulberry32: small, seedable, the same on every machine. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How many points of each fault go to each phase. */
const PLAN: Record<Exclude<Fault, "hang">, Record<Phase, number>> = {
  "kill-provider": { "first-up": 4, "weight-up": 3, destroy: 3 },
  "kill-cli": { "first-up": 1, "weight-up": 1, destroy: 1 },
  sigint: { "first-up": 2, "weight-up": 1, destroy: 2 },
  "cut-relay": { "first-up": 2, "weight-up": 1, destroy: 2 },
};

export function drawCases(seed: number, counts: ScriptCounts): FaultCase[] {
  const next = rng(seed);
  const int = (n: number) => Math.floor(next() * n);
  const cases: FaultCase[] = [];
  let r = int(RECOVERIES.length);
  for (const [fault, phases] of Object.entries(PLAN) as [Fault, Record<Phase, number>][]) {
    for (const [phase, n] of Object.entries(phases) as [Phase, number][]) {
      for (let i = 0; i < n; i++) {
        cases.push({
          id: "",
          fault,
          phase,
          script: 1 + int(counts[phase]),
          step: int(8),
          recovery: RECOVERIES[r++ % RECOVERIES.length],
        });
      }
    }
  }
  cases.push({ id: "", fault: "hang", phase: "first-up", script: 0, step: 0, recovery: RECOVERIES[int(RECOVERIES.length)] });
  return order(cases).map((c, i) => ({ ...c, id: `F${String(i + 1).padStart(2, "0")}` }));
}

/** Whether the gateway must carry the stack before the case's run (else: bare, nothing in the stack). */
export const startsDeployed = (c: Pick<FaultCase, "phase">) => c.phase !== "first-up";
/** Whether the stack is deployed once the recovery has run. */
export const endsDeployed = (c: Pick<FaultCase, "recovery">) => c.recovery !== "destroy";

/**
 * Deterministic order that saves set-up runs: the next case is the first
 * one left that starts where the previous one ended, else the first left.
 */
function order(cases: FaultCase[]): FaultCase[] {
  const left = [...cases];
  const out: FaultCase[] = [];
  let deployed = false;
  while (left.length) {
    const i = Math.max(
      0,
      left.findIndex((c) => startsDeployed(c) === deployed),
    );
    const [c] = left.splice(i, 1);
    out.push(c);
    deployed = endsDeployed(c);
  }
  return out;
}
