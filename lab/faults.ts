// Fault injection on the lab gateway (test/lab/faults/): a stand-in for
// timeout(1), which every script of the provider runs under, counts the
// scripts as they start and can hold the Nth one at a chosen step until the
// test has done its damage (killed the provider, cut the relay, sent Ctrl-C).
// Points are thus "the Nth script, before its Kth step", never wall time.
//
// Everything lives in the gateway's own mount namespace: the stand-ins are
// bind mounts over /usr/bin/timeout (and, for a hung command, over nft or
// iptables-restore), their files on the gateway's tmpfs /run/mw-faults. The
// host's files and the gateway's disk are untouched, and all of it goes with
// the gateway's sshd when the lab is torn down (or rebooted).
import fs from "node:fs";
import path from "node:path";
import { sleep } from "./processes";
import type { Lab } from "./runningLab";

/** On the gateway (its tmpfs /run). */
export const FAULT_DIR = "/run/mw-faults";

/**
 * The stand-in for timeout(1). Scripts of the provider (`timeout -k 5 N sh -s`)
 * are numbered in the order they start; each is kept as script.N, logged as
 * "start N <title>" and "end N <exit code>". When FAULT_DIR/gate holds "N K",
 * script N waits before its Kth step (K counts the steps outside here-documents,
 * modulo their number; 0: before it starts) until FAULT_DIR/release exists.
 */
const TIMEOUT_STAND_IN = String.raw`#!/bin/sh
# multiwan lab: fault injection stand-in for timeout(1) (lab/faults.ts)
d=${FAULT_DIR}
case " $* " in *" sh -s ") ;; *) exec "$d/timeout.real" "$@" ;; esac
exec 8>>"$d/lock"
flock 8
n=$(($(cat "$d/count" 2>/dev/null || echo 0) + 1))
echo "$n" >"$d/count"
flock -u 8
exec 8>&-
cat >"$d/script.$n"
echo "start $n $(sed -n '2s/^# multiwan: //p' "$d/script.$n")" >>"$d/log"
gate=$(cat "$d/gate" 2>/dev/null || true)
if [ -n "$gate" ] && [ "${"$"}{gate%% *}" = "$n" ]; then
  k=${"$"}{gate#* }
  if [ "$k" = 0 ]; then
    echo "gated $n 0 before it starts" >>"$d/log"
    while [ ! -e "$d/release" ]; do sleep 0.02; done
  else
    awk -v k="$k" -v n="$n" -v d="$d" '
      { lines[NR] = $0 }
      END {
        term = ""; m = 0
        for (i = 1; i <= NR; i++) {
          l = lines[i]
          if (term != "") { if (l == term) term = ""; continue }
          if (l ~ /^step "/) steps[++m] = i
          if (match(l, /<<'"'"'?[A-Z_]+'"'"'?$/)) { term = substr(l, RSTART + 2); gsub(/'"'"'/, "", term) }
        }
        at = m ? steps[(k - 1) % m + 1] : NR
        for (i = 1; i <= NR; i++) {
          if (i == at) {
            printf "echo \"gated %s %s before line %s\" >>%s/log\n", n, k, i, d
            printf "while [ ! -e %s/release ]; do sleep 0.02; done\n", d
          }
          print lines[i]
        }
      }' "$d/script.$n" >"$d/script.$n.gated" && mv "$d/script.$n.gated" "$d/script.$n"
  fi
fi
"$d/timeout.real" "$@" <"$d/script.$n"
rc=$?
echo "end $n $rc" >>"$d/log"
exit $rc
`;

/** A command that hangs when it would change something (`nft -f`, `iptables-restore`); bash for `exec -a`. */
const hungStandIn = (real: string) => `#!/bin/bash
# multiwan lab: a hung ${path.basename(real)} (lab/faults.ts)
case "\${0##*/} $*" in
  "nft -f"*|iptables-restore*) echo "hung $$ \${0##*/} $*" >>${FAULT_DIR}/log; exec sleep 3600 ;;
esac
exec -a "$0" ${FAULT_DIR}/hung.real "$@"
`;

export interface ScriptEvent {
  kind: "start" | "gated" | "end" | "hung";
  n: number;
  /** start: the script's title line ("RoutingTable isp1 (table 101): apply"); end: its exit code. */
  detail: string;
}

export class FaultHooks {
  constructor(private readonly lab: Lab) {}

  /** The host's view of a file in the gateway's mount namespace. */
  private file(name: string): string {
    return path.join(`/proc/${this.lab.sshdPid}/root`, FAULT_DIR, name);
  }

  /** Puts the timeout stand-in in place (once per sshd: a reboot takes it away). */
  async install(): Promise<void> {
    await this.lab.exec(
      "gw",
      [
        `mkdir -p ${FAULT_DIR}`,
        `mountpoint -q /usr/bin/timeout && exit 0`,
        `cp /usr/bin/timeout ${FAULT_DIR}/timeout.real`,
        `cat >${FAULT_DIR}/timeout <<'MW_FAULTS'\n${TIMEOUT_STAND_IN}MW_FAULTS`,
        `chmod 755 ${FAULT_DIR}/timeout`,
        `mount --bind ${FAULT_DIR}/timeout /usr/bin/timeout`,
      ].join("\n"),
      { check: true },
    );
    this.reset();
  }

  /** Forgets the counted scripts and disarms the gate. */
  reset(): void {
    for (const f of fs.readdirSync(this.file("."))) {
      if (/^(log|count|gate|release|lock|script\.\d+)$/.test(f)) fs.rmSync(this.file(f), { force: true });
    }
  }

  /** Holds script `n` before its step `k` (0: before it starts) until release(). */
  arm(n: number, k: number): void {
    fs.rmSync(this.file("release"), { force: true });
    fs.writeFileSync(this.file("gate"), `${n} ${k}\n`);
  }

  release(): void {
    fs.writeFileSync(this.file("release"), "");
  }

  disarm(): void {
    fs.rmSync(this.file("gate"), { force: true });
    this.release();
  }

  events(): ScriptEvent[] {
    let text = "";
    try {
      text = fs.readFileSync(this.file("log"), "utf8");
    } catch {
      return [];
    }
    return text
      .split("\n")
      .map((l) => /^(start|gated|end|hung) (\d+) ?(.*)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ kind: m[1] as ScriptEvent["kind"], n: Number(m[2]), detail: m[3] }));
  }

  /** What script `n` was (as the box received it, gate included). */
  script(n: number): string {
    return fs.readFileSync(this.file(`script.${n}`), "utf8");
  }

  /** Waits until `pred` holds for the events, or `until()` says to stop (the command ended): false then. */
  async waitFor(pred: (e: ScriptEvent[]) => boolean, until: () => boolean, timeoutMs = 60_000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (pred(this.events())) return true;
      if (until()) return pred(this.events());
      await sleep(20);
    }
    return false;
  }

  /** Makes `tool` (nft or iptables-restore) hang whenever it would change something, until unhang(). */
  async hang(tool: "nft" | "iptables-restore"): Promise<void> {
    const real = `/usr/sbin/${tool}`;
    await this.lab.exec(
      "gw",
      [
        `cp "$(readlink -f ${real})" ${FAULT_DIR}/hung.real`,
        `cat >${FAULT_DIR}/hung <<'MW_FAULTS'\n${hungStandIn(real)}MW_FAULTS`,
        `chmod 755 ${FAULT_DIR}/hung`,
        `mount --bind ${FAULT_DIR}/hung ${real}`,
      ].join("\n"),
      { check: true },
    );
  }

  async unhang(tool: "nft" | "iptables-restore"): Promise<void> {
    await this.lab.exec(
      "gw",
      `while mountpoint -q "$(readlink -f /usr/sbin/${tool})"; do umount "$(readlink -f /usr/sbin/${tool})"; done`,
      {
        check: true,
      },
    );
  }

  /** Processes on the gateway that a hung command left behind (none, when the time limit did its job). */
  async leftovers(): Promise<string[]> {
    const r = await this.lab.exec("gw", `ps -eo pid=,args= | grep -E 'sleep 3600|${FAULT_DIR}/(hung|timeout)' | grep -v grep || true`, {
      check: true,
    });
    return r.stdout.split("\n").filter((l) => l.trim());
  }
}
