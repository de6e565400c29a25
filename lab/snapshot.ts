// What a test compares before and after: the gateway's kernel state (rules,
// routes, nft, iptables, sysctls) and its disk (the overlay upper dirs).
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

export interface GatewaySnapshot {
  /** `ip rule` */
  rules: string;
  /** `ip route show table all` */
  routes: string;
  /** `nft list ruleset` */
  nft: string;
  /** `iptables-save` without its comment lines */
  iptables: string;
  /** e.g. "net.ipv4.ip_forward" -> "0", "net.ipv4.conf.eth1.rp_filter" -> "0" */
  sysctls: Record<string, string>;
  /**
   * The gateway's disk relative to the host: gateway path -> description, for
   * every file/symlink in an overlay upper dir ("file 0644 12 sha256:..."),
   * deletion ("whiteout") and directory the host does not have ("dir 0755").
   * Directories merely copied up (they exist on the host) are left out, so a
   * destroy that removed everything it wrote gives back the earlier listing.
   * (Opaque directories, i.e. a host directory removed and made again, show
   * as copied up: node cannot read the overlay xattr.)
   */
  disk: Record<string, string>;
}

/** Run in the gateway (with its mount namespace); sections start with "@@<name>". */
export const KERNEL_STATE_SCRIPT = [
  "echo @@rules; ip rule",
  "echo @@routes; ip route show table all",
  "echo @@nft; nft list ruleset 2>&1",
  "echo @@iptables; iptables-save 2>&1 | grep -v '^#'",
  "echo @@sysctls",
  'for f in /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/fib_multipath_hash_policy /proc/sys/net/ipv4/fib_multipath_use_neigh /proc/sys/net/ipv4/conf/*/rp_filter /proc/sys/net/ipv4/conf/*/ignore_routes_with_linkdown; do echo "$f=$(cat $f)"; done',
  "echo @@end",
].join("\n");

/** The kernel part of a GatewaySnapshot, from what KERNEL_STATE_SCRIPT printed. */
export function parseKernelState(stdout: string): Omit<GatewaySnapshot, "disk"> {
  const sec: Record<string, string> = {};
  let cur = "";
  for (const line of stdout.split("\n")) {
    const m = /^@@(\w+)$/.exec(line);
    if (m) {
      cur = m[1];
      sec[cur] = "";
    } else if (cur) sec[cur] += `${line}\n`;
  }
  const sysctls: Record<string, string> = {};
  for (const line of (sec.sysctls ?? "").split("\n")) {
    const m = /^\/proc\/sys\/(.*)=(.*)$/.exec(line);
    if (m) sysctls[m[1].split("/").join(".")] = m[2];
  }
  return {
    rules: (sec.rules ?? "").trim(),
    routes: (sec.routes ?? "").trim(),
    nft: (sec.nft ?? "").trim(),
    iptables: (sec.iptables ?? "").trim(),
    sysctls,
  };
}

/** See GatewaySnapshot.disk. */
export function diskListing(disk: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [gwPath, upper] of Object.entries(disk)) {
    const walk = (rel: string) => {
      const full = path.join(upper, rel);
      for (const ent of fs.readdirSync(full).sort()) {
        const r = path.join(rel, ent);
        const p = path.join(upper, r);
        const gp = path.join(gwPath, r);
        const st = fs.lstatSync(p);
        const mode = (st.mode & 0o7777).toString(8).padStart(4, "0");
        if (st.isCharacterDevice() && st.rdev === 0) out[gp] = "whiteout";
        else if (st.isSymbolicLink()) out[gp] = `symlink -> ${fs.readlinkSync(p)}`;
        else if (st.isDirectory()) {
          let host: fs.Stats | undefined;
          try {
            host = fs.lstatSync(gp);
          } catch {
            host = undefined;
          }
          if (!host?.isDirectory()) out[gp] = `dir ${mode}`;
          walk(r);
        } else if (st.isFile()) {
          const sha = createHash("sha256").update(fs.readFileSync(p)).digest("hex").slice(0, 16);
          out[gp] = `file ${mode} ${st.size} sha256:${sha}`;
        } else out[gp] = `other ${mode}`;
      }
    };
    if (fs.existsSync(upper)) walk(".");
  }
  return out;
}
