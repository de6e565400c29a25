// Entry point of the plugin `pulumi-resource-multiwan` (provider/bin).
import { main } from "@pulumi/pulumi/provider";
import { MultiwanProvider } from "./provider";

const instance = new MultiwanProvider();
// The engine ends a provider by closing its stdin / signalling; close the SSH
// connections so the gateway's sshd sees a clean disconnect.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void instance.pool.close().finally(() => process.exit(0)));
}
main(instance, process.argv.slice(2)).catch((err) => {
  console.error(`multiwan provider failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
