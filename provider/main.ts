// Entry point of the plugin `pulumi-resource-multiwan` (provider/bin): serve
// the ResourceProvider protocol and tell the engine the port, which must be
// the first (and only) line on stdout.
import { MultiwanProvider } from "./provider";
import { ProviderServer } from "./server";

/** How often the provider checks that the engine that started it is still there. */
const ENGINE_CHECK_MS = 1000;

async function main(): Promise<void> {
  const instance = new MultiwanProvider();
  const server = await new ProviderServer(instance).listen();
  const shutDown = () =>
    void instance.pool.close().finally(() => {
      server.close();
      process.exit(0);
    });
  // The engine ends a provider by signalling it; close the SSH connections so
  // the gateway's sshd sees a clean disconnect.
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, shutDown);
  // A CLI killed with -9 signals nobody: the provider is re-parented and
  // would hold its SSH connection forever. Leave when the engine is gone.
  const engine = process.ppid;
  setInterval(() => {
    if (process.ppid !== engine) shutDown();
  }, ENGINE_CHECK_MS).unref();
  process.stdout.write(`${server.port}\n`);
}

main().catch((err) => {
  console.error(`multiwan provider failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
