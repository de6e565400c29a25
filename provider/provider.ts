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

/**
 * The run's last resource (design §10): it depends on every other resource of
 * its gateway and its input digests their `applied` tokens (renewed by every
 * change of the box), so it updates exactly when something else changed the
 * box; its create or update confirms the rollback guard over a new SSH
 * connection. Nothing of it lives on the box.
 */
export const CONFIRMATION = "Confirmation";
const isConfirmation = (urn: string) => ((urn.split("::")[2] ?? "").split("$").pop() ?? "") === `multiwan:index:${CONFIRMATION}`;

export class MultiwanProvider implements provider.Provider {
  readonly version = PROVIDER_VERSION;
  private readonly lifecycle: Lifecycle;
  /** Resources this run replaces: their delete is followed by a create, then the Confirmation. */
  private readonly replacing = new Set<string>();
  /** The Confirmation was deleted: this run is a destroy, whose GatewayHost removal confirms. */
  private destroying = false;

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
    if (isConfirmation(urn)) {
      const ok = typeof news?.digest === "string";
      return { inputs: news, failures: ok ? [] : [{ property: "digest", reason: "must be a string" }] };
    }
    return check(parseUrn(urn).kind, olds, news);
  }

  async diff(_id: string, urn: string, olds: any, news: any): Promise<DiffResult> {
    if (isConfirmation(urn)) {
      const changes = olds?.digest !== news?.digest;
      const detailedDiff: DiffResult["detailedDiff"] = changes ? { digest: { kind: "UPDATE", inputDiff: true } } : {};
      return { changes, replaces: [], diffs: changes ? ["digest"] : [], detailedDiff, deleteBeforeReplace: false };
    }
    const result = diff(parseUrn(urn).kind, olds, news);
    if (result.replaces.length > 0) this.replacing.add(urn);
    return result;
  }

  /** `preview`: what the engine shows before an up; the gateway is never contacted for it. */
  async create(urn: string, inputs: any, preview = false): Promise<provider.CreateResult> {
    if (preview) return { id: "", outs: inputs };
    if (isConfirmation(urn)) {
      await this.lifecycle.confirm();
      return { id: "confirmation", outs: inputs };
    }
    const { kind, name } = parseUrn(urn);
    return this.lifecycle.create(kind, name, inputs);
  }

  async update(_id: string, urn: string, olds: any, news: any, preview = false): Promise<provider.UpdateResult> {
    if (preview) return { outs: news };
    if (isConfirmation(urn)) {
      await this.lifecycle.confirm();
      return { outs: news };
    }
    const { kind, name } = parseUrn(urn);
    return this.lifecycle.update(kind, name, olds, news);
  }

  async delete(_id: string, urn: string, props: any): Promise<void> {
    if (isConfirmation(urn)) {
      this.destroying = true;
      return;
    }
    const { kind, name } = parseUrn(urn);
    // In an up, a resource that left the site is deleted after everything
    // else, the Confirmation included (which may not even have changed), so
    // its removal confirms itself; a replacement's delete does not.
    return this.lifecycle.delete(kind, name, props, !this.destroying && !this.replacing.has(urn));
  }

  async read(id: string, urn: string, props?: any): Promise<provider.ReadResult> {
    // Nothing of it is on the box (a drift repair confirms itself: Lifecycle.update).
    if (isConfirmation(urn)) return { id, props: props ?? {}, inputs: props ?? {} };
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
