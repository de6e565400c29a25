// The multiwan provider: a thin dispatcher from the engine's calls to the
// shared lifecycle, keyed by the resource type in the URN, and to the
// provider configuration (provider/config.ts). SSH lives in one session pool
// per provider process, closed when the engine shuts us down. The gRPC layer
// (provider/server.ts) converts the engine's messages to and from these calls.
import fs from "node:fs";
import path from "node:path";
import type * as provider from "@pulumi/pulumi/provider";
import { type ResourceKind, isResourceKind } from "../lib/render";
import { type ConfigFailure, checkConfig, diffConfig, parseConfig } from "./config";
import { Lifecycle, check, diff } from "./lifecycle";
import type { DiffResult } from "./propertyDiff";
import { SshPool } from "./ssh";

// What the engine records as the plugin's version: package.json's, so a
// release bump there is the only edit (a copy here had to be kept in step).
// This file runs compiled, from dist/provider/.
const PACKAGE_JSON = path.join(__dirname, "..", "..", "package.json");
export const PROVIDER_VERSION: string = JSON.parse(fs.readFileSync(PACKAGE_JSON, "utf8")).version;

/** "urn:pulumi:home::multiwan::multiwan:index:MultiWanGateway$multiwan:index:RoutingTable::home-table-isp1" */
export function parseUrn(urn: string): { kind: ResourceKind; name: string } {
  const parts = urn.split("::");
  const type = (parts[2] ?? "").split("$").pop() ?? "";
  const kind = type.replace(/^multiwan:index:/, "");
  if (!isResourceKind(kind)) throw new Error(`multiwan has no resource type "${type}"`);
  return { kind, name: parts.slice(3).join("::") };
}

export class MultiwanProvider implements provider.Provider {
  readonly version = PROVIDER_VERSION;
  private readonly lifecycle: Lifecycle;

  constructor(readonly pool: SshPool = new SshPool()) {
    this.lifecycle = new Lifecycle(pool);
  }

  async checkConfig(_urn: string, _olds: any, news: any): Promise<{ inputs: any; failures: ConfigFailure[] }> {
    return checkConfig(news);
  }

  async diffConfig(_urn: string, olds: any, news: any): Promise<DiffResult> {
    return diffConfig(olds, news);
  }

  /** The engine's inputs for this provider instance (secrets still wrapped); the default provider has no host. */
  async configure(inputs: any): Promise<void> {
    this.lifecycle.configure(parseConfig(inputs ?? {}));
  }

  async check(urn: string, olds: any, news: any): Promise<provider.CheckResult> {
    return check(parseUrn(urn).kind, olds, news);
  }

  async diff(_id: string, urn: string, olds: any, news: any): Promise<DiffResult> {
    return diff(parseUrn(urn).kind, olds, news);
  }

  /** `preview`: what the engine shows before an up; the gateway is never contacted for it. */
  async create(urn: string, inputs: any, preview = false): Promise<provider.CreateResult> {
    const { kind, name } = parseUrn(urn);
    if (preview) return { id: "", outs: inputs };
    return this.lifecycle.create(kind, name, inputs);
  }

  async update(_id: string, urn: string, olds: any, news: any, preview = false): Promise<provider.UpdateResult> {
    const { kind, name } = parseUrn(urn);
    if (preview) return { outs: news };
    return this.lifecycle.update(kind, name, olds, news);
  }

  async delete(_id: string, urn: string, props: any): Promise<void> {
    const { kind, name } = parseUrn(urn);
    return this.lifecycle.delete(kind, name, props);
  }

  async read(id: string, urn: string, props?: any): Promise<provider.ReadResult> {
    const { kind, name } = parseUrn(urn);
    return this.lifecycle.read(kind, name, id, props ?? {});
  }

  /**
   * The engine's Cancel (the first Ctrl-C; the engine also sends it when a
   * run ends): it waits for the operations in flight and starts no new ones;
   * so does the pool. Closing the connections here would cut the running
   * scripts off halfway while the engine still waits for their answers.
   */
  async cancel(): Promise<void> {
    this.pool.stopStarting();
  }
}
