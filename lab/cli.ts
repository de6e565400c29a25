// `npm run lab -- up|down|status` (package.json: "lab": "tsc -b && node dist/lab/cli.js").
//
//   up [--name mwXXXX] [--nat nftables|iptables] [--keep-state] [--json]
//        creates a lab and leaves it running; prints how to reach it.
//        --keep-state: `down` keeps the state dir (the gateway's disk, keys,
//        logs), and `up --name <same>` later boots the lab again on that disk.
//   down <name...> | --all  [--purge]
//        removes labs (with --all: every mw* lab on this machine, including
//        leftovers of crashed runs); --purge also deletes kept state dirs.
//   status [--json]
//        lists labs: namespaces, processes, ssh port.
import { downLab, findLabNames, labStatus, labUp, NAME_RE } from "./lab";

const USAGE = `usage: lab up [--name mwXXXX] [--nat nftables|iptables] [--keep-state] [--json]
       lab down <name...> | --all [--purge]
       lab status [--json]`;

function flag(args: string[], name: string): boolean {
  const i = args.indexOf(name);
  if (i < 0) return false;
  args.splice(i, 1);
  return true;
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith("--")) throw new Error(`${name} needs a value`);
  args.splice(i, 2);
  return v;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  switch (cmd) {
    case "up": {
      const json = flag(args, "--json");
      const keepState = flag(args, "--keep-state");
      const name = option(args, "--name");
      const nat = option(args, "--nat");
      if (nat !== undefined && nat !== "nftables" && nat !== "iptables") throw new Error("--nat must be nftables or iptables");
      if (args.length) throw new Error(`unexpected arguments: ${args.join(" ")}`);
      const lab = await labUp({ name, nat, keepState: keepState || undefined });
      process.stdout.write(json ? `${JSON.stringify(lab.info, null, 2)}\n` : `${lab.summary()}\n`);
      return 0;
    }
    case "down": {
      const all = flag(args, "--all");
      const purge = flag(args, "--purge");
      const bad = args.filter((a) => !NAME_RE.test(a));
      if (bad.length) throw new Error(`not lab names: ${bad.join(" ")}`);
      const names = all ? await findLabNames() : args;
      if (!names.length) {
        if (!all) throw new Error(`down needs lab names or --all\n${USAGE}`);
        process.stdout.write("no labs found\n");
        return 0;
      }
      let failed = 0;
      for (const name of names) {
        const r = await downLab(name, purge ? { keepState: false } : {});
        const kept = !r.removedDir && !purge;
        process.stdout.write(
          `${name}: ${r.namespaces.length} namespace(s), ${r.killed.length} process(es) removed${kept ? "" : ", state dir removed"}` +
            (r.leftovers.length ? `\n  LEFTOVERS:\n    ${r.leftovers.join("\n    ")}` : "") +
            "\n",
        );
        if (r.leftovers.length) failed++;
      }
      return failed ? 1 : 0;
    }
    case "status": {
      const json = flag(args, "--json");
      const st = await labStatus();
      if (json) process.stdout.write(`${JSON.stringify(st, null, 2)}\n`);
      else if (!st.length) process.stdout.write("no labs\n");
      else
        for (const s of st) {
          process.stdout.write(
            `${s.name}: ${s.namespaces.length}/5 namespaces, ${s.processes} process(es), sshd ${s.sshdRunning ? "up" : "down"}, relay ${s.relayRunning ? `127.0.0.1:${s.sshPort}` : "down"}` +
              `${s.dir ? `, state ${s.dir}${s.keptState ? " (kept)" : ""}` : ""}\n`,
          );
        }
      return 0;
    }
    default:
      process.stderr.write(`${USAGE}\n`);
      return cmd === undefined || cmd === "help" || cmd === "--help" ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`lab: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
