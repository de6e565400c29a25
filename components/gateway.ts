// MultiWanGateway: one validated site -> the provider's resources, as
// children named after the gateway so two sites in one program never collide.
// Wiring only: planning and rendering happen in lib/, applying in provider/.
import * as pulumi from "@pulumi/pulumi";
import { type Preflight, planSite, trafficShares } from "../lib/plan";
import { formatOwned } from "../lib/ownership";
import type { ResourceKind } from "../lib/render";
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
  constructor(name: string, site: Site, preflight: Preflight, privateKey: pulumi.Input<string> | undefined, opts?: pulumi.ResourceOptions) {
    const props: pulumi.Inputs = {
      address: site.host.address,
      port: site.host.port,
      user: site.host.user,
      hostKey: site.host.hostKey,
      insecureIgnoreHostKey: site.host.insecureIgnoreHostKey,
      // Only when set: the provider's default (120 s) keeps the preview short.
      ...(site.host.commandTimeoutSeconds === undefined ? {} : { commandTimeoutSeconds: site.host.commandTimeoutSeconds }),
      privateKey: privateKey === undefined ? undefined : pulumi.secret(privateKey),
      // The owned objects as one line: a preview shows them once, briefly.
      preflight: { ...preflight, owned: formatOwned(preflight.owned) },
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

  constructor(kind: ResourceKind, name: string, props: pulumi.Inputs, opts?: pulumi.CustomResourceOptions) {
    super(`multiwan:index:${kind}`, name, { ...props, removeScript: undefined, kernelState: undefined }, opts);
  }
}

export class MultiWanGateway extends pulumi.ComponentResource {
  /** The gateway's own `multiwan` provider, which every child uses. */
  readonly provider: GatewayProvider;
  /** Every child by its key ("host", "table-isp1", "rule-isp1", "multipath", ...). */
  readonly resources: Record<string, GatewayResource> = {};
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
    this.provider = new GatewayProvider(name, site, plan.preflight, args.privateKey, { parent: this });
    for (const planned of planResources(plan)) {
      this.resources[planned.key] = new GatewayResource(planned.kind, `${name}-${planned.key}`, planned.entry, {
        parent: this,
        provider: this.provider,
        dependsOn: planned.dependsOn.map((key) => this.resources[key]),
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
