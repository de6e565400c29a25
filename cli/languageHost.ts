// Hosts a Pulumi program in this Node process for a CLI that has no Node.js
// language host (design §7): the program is served over gRPC exactly as the
// Automation API serves inline programs, and the CLI is pointed at it with
// `--client=<address>`.
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";

export type PulumiProgram = () => Promise<Record<string, unknown> | undefined>;

export interface LanguageHost {
  /** host:port to pass as `--client=`. */
  address: string;
  /** Stops serving; call once the CLI has exited. */
  close(cliFailed: boolean): void;
}

/** The project file names the CLI accepts, in its order of preference. */
const PROJECT_FILES = ["Pulumi.yaml", "Pulumi.yml", "Pulumi.json"];

/** Finds the project directory like the CLI does: `dir` or its nearest ancestor with a project file. */
export function findProjectDir(dir: string): string | undefined {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (PROJECT_FILES.some((f) => fs.existsSync(path.join(d, f)))) return d;
    if (path.dirname(d) === d) return undefined;
  }
}

function readProjectFile(projectDir: string): { main?: string } {
  const file = PROJECT_FILES.map((f) => path.join(projectDir, f)).find((f) => fs.existsSync(f));
  if (!file) throw new Error(`no Pulumi.yaml in ${projectDir}`);
  // JSON is YAML, so one parser reads all three.
  return (YAML.parse(fs.readFileSync(file, "utf8")) ?? {}) as { main?: string };
}

const TS_TO_JS: Record<string, string> = { ".ts": ".js", ".tsx": ".js", ".mts": ".mjs", ".cts": ".cjs" };

/**
 * The JavaScript file that holds the project's program. Pulumi.yaml `main`
 * (a file or a directory) wins, then package.json `main`, then index.js. A
 * TypeScript file is not compiled here (the language host would type-check it
 * on every run, seconds each): its compiled twin under tsconfig's outDir is used.
 */
export function resolveProgramFile(projectDir: string): string {
  let entry = path.resolve(projectDir, readProjectFile(projectDir).main ?? ".");
  if (fs.existsSync(entry) && fs.statSync(entry).isDirectory()) {
    const pkgFile = path.join(entry, "package.json");
    const pkgMain = fs.existsSync(pkgFile) ? (JSON.parse(fs.readFileSync(pkgFile, "utf8")).main as string | undefined) : undefined;
    entry = path.resolve(entry, pkgMain ?? (fs.existsSync(path.join(entry, "index.ts")) ? "index.ts" : "index.js"));
  }
  const ext = path.extname(entry);
  if (ext in TS_TO_JS && !entry.endsWith(".d.ts")) {
    const { outDir, rootDir } = readTsconfigDirs(projectDir);
    const rel = path.relative(rootDir, entry);
    entry = path.join(outDir, rel.slice(0, -ext.length) + TS_TO_JS[ext]);
    if (!fs.existsSync(entry)) throw new Error(`${entry} does not exist: compile the program first (npx tsc -b)`);
  }
  return entry;
}

function readTsconfigDirs(projectDir: string): { outDir: string; rootDir: string } {
  const file = path.join(projectDir, "tsconfig.json");
  if (!fs.existsSync(file)) throw new Error(`the program is TypeScript but ${file} does not exist`);
  const text = fs.readFileSync(file, "utf8");
  let config: { compilerOptions?: { outDir?: string; rootDir?: string } };
  try {
    // tsconfig allows comments and trailing commas: TypeScript's own reader
    // handles them; it is a dev dependency, so fall back to plain JSON.
    const ts = require("typescript") as typeof import("typescript");
    const read = ts.parseConfigFileTextToJson(file, text);
    if (read.error) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, "\n"));
    config = read.config;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND") throw e;
    config = JSON.parse(text);
  }
  const outDir = config.compilerOptions?.outDir;
  if (!outDir) throw new Error(`${file} sets no compilerOptions.outDir, so the compiled program cannot be found`);
  return {
    outDir: path.resolve(projectDir, outDir),
    rootDir: path.resolve(projectDir, config.compilerOptions?.rootDir ?? "."),
  };
}

/**
 * A program that loads `file` on its first run. Loading inside the run (not
 * before the CLI starts) lets module-level code use the Pulumi runtime, as it
 * can under the real language host. The export must be a function: `up`
 * runs the program twice in this one process (preview, then update), and a
 * module's top-level code runs only once.
 */
export function programFromFile(file: string): PulumiProgram {
  return async () => {
    const mod = require(file);
    const fn = typeof mod === "function" ? mod : mod?.default;
    if (typeof fn !== "function") {
      throw new Error(`${file} must export a function (export default async () => {...}) to run under \`npm run pulumi\``);
    }
    return fn();
  };
}

/**
 * The Pulumi SDK that the program itself will load: the runtime keeps its
 * state in module instances, so the server must be built from the very same
 * copy of @pulumi/pulumi (and its grpc-js), not necessarily ours.
 */
function loadSdk(projectDir: string) {
  const sdkDir = path.dirname(require.resolve("@pulumi/pulumi/package.json", { paths: [projectDir, __dirname] }));
  const load = (id: string) => require(require.resolve(id, { paths: [sdkDir] }));
  return {
    dir: sdkDir,
    grpc: load("@grpc/grpc-js") as typeof import("@grpc/grpc-js"),
    // automation/server has no public typings: it is what the Automation API uses internally.
    LanguageServer: load("@pulumi/pulumi/automation/server").LanguageServer as new (program: PulumiProgram) => LanguageServer,
    langrpc: load("@pulumi/pulumi/proto/language_grpc_pb"),
    langproto: load("@pulumi/pulumi/proto/language_pb"),
    grpcChannelOptions: load("@pulumi/pulumi/runtime").grpcChannelOptions as Record<string, unknown>,
    errors: load("@pulumi/pulumi/errors") as typeof import("@pulumi/pulumi/errors"),
    hasLoggedErrors: load("@pulumi/pulumi/log").hasErrors as () => boolean,
  };
}

type RunCallback = (err: Error | null | undefined, resp?: unknown) => void;
interface LanguageServer {
  run(call: unknown, callback: RunCallback): Promise<void>;
  onPulumiExit(hasError: boolean): void;
}

/** Serves `program` on 127.0.0.1:<free port>, as Automation API's Stack.up/preview/refresh/destroy do. */
export async function startLanguageHost(program: PulumiProgram, projectDir: string): Promise<LanguageHost> {
  const sdk = loadSdk(projectDir);
  const reported = new WeakSet<Error>();
  const languageServer = new sdk.LanguageServer(async () => {
    try {
      return await program();
    } catch (e) {
      // RunError/ResourceError: the SDK already prints these as their authors
      // meant (index.ts's validation report is one); bail below, so once only.
      if (sdk.errors.RunError.isInstance(e) || sdk.errors.ResourceError.isInstance(e)) {
        reported.add(e as Error);
        throw e;
      }
      // A RunError is logged by the SDK as its message alone, without the
      // stack (which would be mostly this file's and the SDK's frames).
      const err = new sdk.errors.RunError(describe(e, [sdk.dir, __dirname]));
      reported.add(err);
      throw err;
    }
  });

  // The SDK logs the program's error as a diagnostic and then also fails the
  // gRPC call with the same message, which the engine prints a second time.
  // Answer "bail" instead (what the real language host does after logging),
  // so that the message shows once. The SDK also answers twice; keep the first.
  const run = languageServer.run.bind(languageServer);
  languageServer.run = (call, callback) => {
    let answered = false;
    return run(call, (err, resp) => {
      if (answered) return;
      answered = true;
      if (err && reported.has(err) && sdk.hasLoggedErrors()) {
        const bail = new sdk.langproto.RunResponse();
        bail.setBail(true);
        callback(null, bail);
      } else {
        callback(err, resp);
      }
    });
  };

  const server = new sdk.grpc.Server({ ...sdk.grpcChannelOptions });
  server.addService(sdk.langrpc.LanguageRuntimeService, languageServer as never);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", sdk.grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    close(cliFailed) {
      try {
        // Reports promises the program left running; the SDK skips the check after a failure.
        languageServer.onPulumiExit(cliFailed);
      } catch (e) {
        process.stderr.write(`warning: ${(e as Error).message}\n`);
      }
      server.forceShutdown();
    },
  };
}

/**
 * The program's error as a reader wants it: its message (with the error's
 * name unless it is a plain Error), then the stack frames in the program's
 * own code, none of the SDK's, this host's or Node's. Thrown non-Errors
 * (`throw "x"`, `throw {code: 1}`) become readable text, not "[object Object]".
 */
export function describe(e: unknown, hiddenDirs: string[]): string {
  if (!(e instanceof Error)) return readable(e);
  const head = e.name === "Error" || !e.name ? e.message : `${e.name}: ${e.message}`;
  const frames = (e.stack ?? "")
    .split("\n")
    .filter((line) => /^\s+at /.test(line))
    .filter((line) => !/\(node:|at node:|\(<anonymous>\)/.test(line) && !hiddenDirs.some((d) => line.includes(d + path.sep)));
  return [head, ...frames].join("\n");
}

function readable(e: unknown): string {
  if (typeof e === "string") return e;
  try {
    const json = JSON.stringify(e);
    if (json !== undefined && json !== "{}") return json;
  } catch {
    // circular: fall through
  }
  return String(e);
}
