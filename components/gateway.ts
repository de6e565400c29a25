// MultiWanGateway: one validated site -> the provider's resources, as
// children named after the gateway so two sites in one program never collide.
// Wiring only: planning and rendering happen in lib/, applying in provider/.
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { type Preflight, planSite, trafficShares } from "../lib/plan";
import type { ResourceKind } from "../lib/render";
import { preflightConfig } from "../lib/render/preflight";
import { planResources } from "../lib/resources";
import type { Site } from "../lib/schema";
import { uplinkPriority, uplinkTable } from "../lib/schema";

export interface MultiWanGatewayArgs {
  /** The site, already validated: `parseSiteOrThrow(raw)` from "multiwan/lib/validate". */
  site: Site;
  /** The SSH private key for `site.host.user` (kept secret). Omit to use the ssh agent (SSH_AUTH_SOCK). */
  privateKey?: pulumi.Input<string>;
}

export interface UplinkSummary {
  name: string;
  interface: string;
  table: number;
  rulePriority: number;
  /** Share of new connections, e.g. "67%". */
  share: string;
}

/**
 * The `multiwan` provider of one gateway: how to reach it (the private key as
 * a secret) and what the preflight checks there before the first change of a
 * run. Its resources carry none of this, so a changed address, port or key is
 * an update of the provider alone.
 */
export class GatewayProvider extends pulumi.ProviderResource {
  constructor(
    name: string,
    site: Site,
    preflight: Preflight,
    privateKey: pulumi.Input<string> | undefined,
    opts?: pulumi.ResourceOptions,
    rollbackAfterSeconds: number = site.rollback?.afterSeconds ?? 60,
  ) {
    const props: pulumi.Inputs = {
      address: site.host.address,
      port: site.host.port,
      user: site.host.user,
      hostKey: site.host.hostKey,
      insecureIgnoreHostKey: site.host.insecureIgnoreHostKey,
      // Only when set: the provider's default (120 s) keeps the preview short.
      ...(site.host.commandTimeoutSeconds === undefined ? {} : { commandTimeoutSeconds: site.host.commandTimeoutSeconds }),
      privateKey: privateKey === undefined ? undefined : pulumi.secret(privateKey),
      // Each interface and the owned objects one line each, so a preview shows them briefly.
      preflight: preflightConfig(preflight),
      // Flat, so a preview shows it in one line (site: rollback.afterSeconds).
      rollbackAfterSeconds,
    };
    super("multiwan", name, props, opts);
  }
}

/** One resource of the multiwan provider (type `multiwan:index:<kind>`). */
export class GatewayResource extends pulumi.CustomResource {
  /** The exact script that `pulumi destroy` runs to remove this resource. */
  declare readonly removeScript: pulumi.Output<string>;
  /** The kernel state this resource owns, one canonical line each (live after a refresh). */
  declare readonly kernelState: pulumi.Output<string[]>;
  /** A fresh token each time the provider changed the box for this resource. */
  declare readonly applied: pulumi.Output<string | undefined>;

  constructor(kind: ResourceKind, name: string, props: pulumi.Inputs, opts?: pulumi.CustomResourceOptions) {
    super(`multiwan:index:${kind}`, name, { ...props, removeScript: undefined, kernelState: undefined, applied: undefined }, opts);
  }
}

/** The run's last resource (design §10): see CONFIRMATION in provider/provider.ts. */
export class Confirmation extends pulumi.CustomResource {
  constructor(name: string, digest: pulumi.Input<string>, opts?: pulumi.CustomResourceOptions) {
    super("multiwan:index:Confirmation", name, { digest }, opts);
  }
}

export class MultiWanGateway extends pulumi.ComponentResource {
  /** The gateway's own `multiwan` provider, which every child uses. */
  readonly provider: GatewayProvider;
  /** Every child by its key ("host", "table-isp1", "rule-isp1", "multipath", ...). */
  readonly resources: Record<string, GatewayResource> = {};
  /** Confirms the run's rollback guard (absent with rollback.afterSeconds 0). */
  readonly confirmation?: Confirmation;
  readonly uplinks: UplinkSummary[];
  /** "174.143.119.91/32 via isp2" for each pinned route. */
  readonly pinnedRoutes: string[];

  constructor(name: string, args: MultiWanGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super("multiwan:index:MultiWanGateway", name, {}, opts);
    const { site } = args;
    if (site.host.insecureIgnoreHostKey && !site.host.hostKey) {
      pulumi.log.warn(`${name}: host.insecureIgnoreHostKey is set: the SSH host key of ${site.host.address} is not verified`, this);
    }
    const plan = planSite(site);
    this.provider = new GatewayProvider(name, site, plan.preflight, args.privateKey, { parent: this }, plan.rollback.afterSeconds);
    const planned = planResources(plan);
    for (const p of planned) {
      this.resources[p.key] = new GatewayResource(p.kind, `${name}-${p.key}`, p.entry, {
        parent: this,
        provider: this.provider,
        dependsOn: p.dependsOn.map((key) => this.resources[key]),
      });
    }
    // The run's last resource: its input digests every resource's key and
    // `applied` token, so it updates exactly when one of them changed the
    // box in this run or a resource left the site (the engine deletes those
    // after it, and the first such removal then confirms itself); its update
    // confirms the rollback guard.
    if (plan.rollback.afterSeconds > 0) {
      const resources = planned.map((p) => this.resources[p.key]);
      const digest = pulumi.all(resources.map((r) => r.applied)).apply((tokens) =>
        createHash("sha256")
          .update(JSON.stringify(tokens.map((t, i) => [planned[i].key, t ?? null])))
          .digest("hex"),
      );
      this.confirmation = new Confirmation(`${name}-confirm`, digest, {
        parent: this,
        provider: this.provider,
        dependsOn: resources,
      });
    }
    const shares = trafficShares(plan.multipath);
    this.uplinks = site.uplinks.map((u, i) => ({
      name: u.name,
      interface: u.interface,
      table: uplinkTable(site, u, i),
      rulePriority: uplinkPriority(site, u, i),
      share: `${Math.round(shares[u.name] * 100)}%`,
    }));
    this.pinnedRoutes = site.pinnedRoutes.map((p) => `${p.destination} via ${p.uplink}`);
    this.registerOutputs({ uplinks: this.uplinks, pinnedRoutes: this.pinnedRoutes });
  }
}
