// The health monitor's verdicts as a read script prints them (mw_states in
// the prelude): "<uplink> <up|down> <epoch seconds of the last change>".
// Resources read them to tell an outage (the monitor took an uplink out on
// purpose) from drift, and report them in their `health` output.
import { type Facts, factLines } from "./sections";

export interface UplinkHealth {
  state: "up" | "down";
  /** Epoch seconds of the last change (0 when unknown). */
  since: number;
}

export function healthOf(facts: Facts, name = "health"): Map<string, UplinkHealth> {
  const out = new Map<string, UplinkHealth>();
  for (const line of factLines(facts, name)) {
    const [uplink, state, since] = line.split(/\s+/);
    if (state === "up" || state === "down") out.set(uplink, { state, since: Number(since) || 0 });
  }
  return out;
}

/** The uplinks the monitor has taken out. */
export function downUplinks(facts: Facts, name = "health"): Set<string> {
  return new Set([...healthOf(facts, name)].filter(([, h]) => h.state === "down").map(([u]) => u));
}

/** "isp1 down since 2025-01-02T03:04:05Z", one per watched uplink: the `health` output. */
export function healthLines(facts: Facts, name = "health"): string[] {
  return [...healthOf(facts, name)].map(
    ([uplink, h]) => `${uplink} ${h.state}${h.since ? ` since ${new Date(h.since * 1000).toISOString().replace(".000Z", "Z")}` : ""}`,
  );
}
