// Entry point of the plugin `pulumi-resource-multiwan` (provider/bin): serve
// the ResourceProvider protocol and tell the engine the port, which must be
// the first (and only) line on stdout.
import { MultiwanProvider } from "./provider";
import { ProviderServer } from "./server";

async function main(): Promise<void> {
  const instance = new MultiwanProvider();
  const server = await new ProviderServer(instance).listen();
  // The engine ends a provider by signalling it; close the SSH connections so
  // the gateway's sshd sees a clean disconnect.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(
      signal,
      () =>
        void instance.pool.close().finally(() => {
          server.close();
          process.exit(0);
        }),
    );
  }
  process.stdout.write(`${server.port}\n`);
}

main().catch((err) => {
  console.error(`multiwan provider failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
