// Small traffic helper that the lab runs *inside* its namespaces with
// `ip netns exec <ns> node dist/lab/agent.js <mode> --lab <name> ...`.
// The `--lab <name>` argument is only there so that `lab down` can find the
// process by its command line after a crash.
//
// Modes:
//   whoami  --port P [--port Q]     TCP server on 0.0.0.0: answers every
//                                   connection with the peer address it sees
//                                   ("198.18.1.2\n") and closes.
//   flows   --spec <json>           opens `count` TCP connections round-robin
//                                   over `targets`, prints a JSON tally of the
//                                   answers: {"tally":{"198.18.1.2":40,...},"ms":..}
//                                   failures are counted as "error:<code>".
//   connect --host H --port P [--bind A] [--timeout MS]
//                                   one connection; prints {"ok":bool,"reply"?,"error"?}
//   echo    --port P                TCP server on 0.0.0.0 that keeps each
//                                   connection open and answers every line
//                                   with the peer address it sees.
//   hold    --spec <json>           opens `count` long-lived connections to an
//                                   echo server, round-robin over `targets`,
//                                   and asks each once; then, for every line
//                                   "check" on stdin, asks each again. Prints
//                                   one JSON line per round: the peer each
//                                   connection's answer named, or "error:<code>".
import * as net from "node:net";

function args(argv: string[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) continue;
    const v = argv[i + 1] ?? "";
    i++;
    m.set(a.slice(2), [...(m.get(a.slice(2)) ?? []), v]);
  }
  return m;
}

function one(m: Map<string, string[]>, k: string, dflt?: string): string {
  const v = m.get(k)?.[0] ?? dflt;
  if (v === undefined) throw new Error(`missing --${k}`);
  return v;
}

function whoami(ports: number[]): void {
  for (const port of ports) {
    const srv = net.createServer((s) => {
      s.on("error", () => undefined);
      const peer = (s.remoteAddress ?? "?").replace(/^::ffff:/, "");
      s.end(`${peer}\n`);
    });
    srv.on("error", (e) => {
      process.stderr.write(`whoami: port ${port}: ${e.message}\n`);
      process.exit(1);
    });
    // "0.0.0.0" accepts on every local IPv4 address (all 60 server addresses).
    srv.listen({ port, host: "0.0.0.0", backlog: 1024 }, () => {
      process.stdout.write(`whoami listening on 0.0.0.0:${port}\n`);
    });
  }
}

interface ConnectResult {
  ok: boolean;
  reply?: string;
  error?: string;
}

function connectOnce(host: string, port: number, timeoutMs: number, bind?: string): Promise<ConnectResult> {
  return new Promise((resolve) => {
    let done = false;
    let buf = "";
    const finish = (r: ConnectResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    const s = net.connect({ host, port, localAddress: bind });
    const timer = setTimeout(() => finish({ ok: false, error: "ETIMEDOUT" }), timeoutMs);
    s.setEncoding("utf8");
    s.on("data", (d: string) => {
      buf += d;
    });
    s.on("end", () => finish(buf.length > 0 ? { ok: true, reply: buf.trim() } : { ok: false, error: "EMPTY" }));
    s.on("close", () => finish(buf.length > 0 ? { ok: true, reply: buf.trim() } : { ok: false, error: "CLOSED" }));
    s.on("error", (e: NodeJS.ErrnoException) => finish({ ok: false, error: e.code ?? e.message }));
  });
}

interface FlowSpec {
  targets: string[];
  count: number;
  port: number;
  timeoutMs: number;
  concurrency: number;
}

async function flows(spec: FlowSpec): Promise<void> {
  const t0 = Date.now();
  const tally: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= spec.count) return;
      const target = spec.targets[i % spec.targets.length];
      const r = await connectOnce(target, spec.port, spec.timeoutMs);
      const key = r.ok ? (r.reply ?? "") : `error:${r.error}`;
      tally[key] = (tally[key] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(spec.concurrency, spec.count)) }, worker));
  process.stdout.write(`${JSON.stringify({ tally, ms: Date.now() - t0 })}\n`);
}

function echo(ports: number[]): void {
  for (const port of ports) {
    const srv = net.createServer((s) => {
      s.on("error", () => undefined);
      const peer = (s.remoteAddress ?? "?").replace(/^::ffff:/, "");
      s.setEncoding("utf8");
      s.on("data", (d: string) => {
        for (let i = 0; i < d.split("\n").length - 1; i++) s.write(`${peer}\n`);
      });
    });
    srv.on("error", (e) => {
      process.stderr.write(`echo: port ${port}: ${e.message}\n`);
      process.exit(1);
    });
    srv.listen({ port, host: "0.0.0.0", backlog: 1024 }, () => process.stdout.write(`echo listening on 0.0.0.0:${port}\n`));
  }
}

interface HoldSpec {
  targets: string[];
  count: number;
  port: number;
  timeoutMs: number;
}

/** One long-lived connection: `ask()` sends a line and resolves with the answer or "error:<code>". */
function heldConnection(host: string, port: number, timeoutMs: number) {
  const s = net.connect({ host, port });
  s.setEncoding("utf8");
  s.setNoDelay(true);
  let failure: string | undefined;
  let waiting: ((answer: string) => void) | undefined;
  let buf = "";
  const settle = (answer: string) => {
    const w = waiting;
    waiting = undefined;
    w?.(answer);
  };
  s.on("data", (d: string) => {
    buf += d;
    const nl = buf.indexOf("\n");
    if (nl >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      settle(line.trim());
    }
  });
  s.on("error", (e: NodeJS.ErrnoException) => {
    failure = `error:${e.code ?? e.message}`;
    settle(failure);
  });
  s.on("close", () => {
    failure ??= "error:CLOSED";
    settle(failure);
  });
  return {
    ask(): Promise<string> {
      if (failure) return Promise.resolve(failure);
      return new Promise((resolve) => {
        const timer = setTimeout(() => settle("error:ETIMEDOUT"), timeoutMs);
        waiting = (answer) => {
          clearTimeout(timer);
          resolve(answer);
        };
        s.write("?\n");
      });
    },
    close: () => s.destroy(),
  };
}

async function hold(spec: HoldSpec): Promise<void> {
  const conns = Array.from({ length: spec.count }, (_, i) =>
    heldConnection(spec.targets[i % spec.targets.length], spec.port, spec.timeoutMs),
  );
  const round = async () => process.stdout.write(`${JSON.stringify({ answers: await Promise.all(conns.map((c) => c.ask())) })}\n`);
  await round();
  const lines = (await import("node:readline")).createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === "check") await round();
  }
  for (const c of conns) c.close();
}

async function main(): Promise<void> {
  const [mode, ...rest] = process.argv.slice(2);
  const m = args(rest);
  switch (mode) {
    case "whoami":
      whoami((m.get("port") ?? ["7000"]).map(Number));
      return;
    case "flows":
      await flows(JSON.parse(one(m, "spec")) as FlowSpec);
      return;
    case "echo":
      echo((m.get("port") ?? ["7100"]).map(Number));
      return;
    case "hold":
      await hold(JSON.parse(one(m, "spec")) as HoldSpec);
      return;
    case "connect": {
      const r = await connectOnce(one(m, "host"), Number(one(m, "port")), Number(one(m, "timeout", "2000")), m.get("bind")?.[0]);
      process.stdout.write(`${JSON.stringify(r)}\n`);
      return;
    }
    default:
      process.stderr.write(`agent: unknown mode ${mode}\n`);
      process.exit(2);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`agent: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
