// Where a stack's site comes from, for the program (index.ts) and the offline
// commands (cli/stackFile.ts): the config key, and the prefix-list files that
// pinned routes may name instead of listing each destination inline.
//
// The site lives under `gateway:site`, not under the project's own namespace:
// the engine hands every `multiwan:*` key to the multiwan provider plugin in
// one environment variable (PULUMI_CONFIG), and Linux refuses to start a
// process with one environment string over 128 kB (MAX_ARG_STRLEN): about
// 2,250 pinned routes. `multiwan:site` (stacks written before) still works.
import * as fs from "node:fs";
import * as path from "node:path";
import { type SiteResult, validateSite } from "./validate";

/** The config key of the site. */
export const SITE_KEY = "gateway:site";
/** Where stacks written before the move keep it; read when SITE_KEY is absent. */
export const LEGACY_SITE_KEY = "multiwan:site";

/**
 * Linux's limit on one argument or environment string, "NAME=value" and its
 * NUL included (MAX_ARG_STRLEN, 32 pages of 4 kB).
 */
export const MAX_ENV_STRING = 128 * 1024;

/**
 * The most pinned routes one site may hold, inline and from files together.
 * Nothing in the path breaks just above it (gRPC messages may be 400 MB, about
 * 4 million routes; ip -batch and a script on stdin have no limit); it is the
 * most measured: 50,000 on the lab (BENCH_ROUTES=49998 npm run bench:pinned)
 * took 30 s to deploy and 20 s to destroy, the box's part 3.3 s, far inside
 * host.commandTimeoutSeconds' default of 120 s.
 */
export const MAX_PINNED_ROUTES = 50_000;

/** Which key of the stack's config holds the site, or a problem when both or neither do. */
export function siteKeyOf(config: Record<string, unknown>): { key: string } | { problem: string } {
  const has = (k: string) => config[k] !== undefined;
  if (has(SITE_KEY) && has(LEGACY_SITE_KEY))
    return { problem: `both ${SITE_KEY} and ${LEGACY_SITE_KEY} are set: keep ${SITE_KEY} and delete ${LEGACY_SITE_KEY}` };
  if (has(SITE_KEY)) return { key: SITE_KEY };
  if (has(LEGACY_SITE_KEY)) return { key: LEGACY_SITE_KEY };
  return { problem: `has no "${SITE_KEY}" under "config:" (see stacks/Pulumi.home.yaml for the layout)` };
}

/** Room left in PULUMI_CONFIG for the other config keys (the SSH key, a few settings). */
const OTHER_CONFIG = 4 * 1024;

/**
 * The problem with the size of the site as the stack file holds it, if any.
 * Config reaches two processes through one environment string, PULUMI_CONFIG:
 * the multiwan provider plugin (every multiwan:* key: the legacy key) and,
 * under Pulumi's own Node.js language host (pulumi-language-nodejs), the
 * program (every key). Linux starts neither above MAX_ENV_STRING, so a long
 * route list belongs in a file (`pinnedRoutes: [{file: ...}]`), which no
 * process receives in its environment.
 */
export function inlineSizeProblem(raw: unknown, key: string): string | undefined {
  // As the engine and the language host encode it: the site is one JSON string value.
  const bytes = Buffer.byteLength(JSON.stringify(JSON.stringify(raw ?? null))) + key.length + 16;
  if (bytes <= MAX_ENV_STRING - OTHER_CONFIG) return undefined;
  const pins = (raw as { pinnedRoutes?: unknown } | null)?.pinnedRoutes;
  const inline = Array.isArray(pins) ? pins.filter((p) => !isFileEntry(p)).length : 0;
  const where =
    key === LEGACY_SITE_KEY
      ? `the provider's environment (the engine passes every multiwan:* key in PULUMI_CONFIG)`
      : `the program's environment under pulumi-language-nodejs (PULUMI_CONFIG)`;
  return (
    `pinnedRoutes: ${key} is ${Math.ceil(bytes / 1024)} kB with ${inline.toLocaleString("en-US")} inline destinations, too big for ${where}, ` +
    `which Linux limits to 128 kB: list them in a file, one per line, and name it: pinnedRoutes: [{file: prefixes/<uplink>.txt, uplink: <uplink>}]` +
    (key === LEGACY_SITE_KEY ? `; and rename the key to ${SITE_KEY}` : "")
  );
}

/** A pinned route entry that names a prefix-list file instead of one destination. */
const FILE_ENTRY_FIELDS = ["file", "uplink", "fallback"];

export interface ExpandedSite {
  /** The site with each `file:` entry replaced by one entry per destination of the file. */
  site: unknown;
  /** Files that could not be read, and file entries with fields they cannot have. */
  problems: string[];
  /** Rewrites a validation problem about an expanded entry to name the file and line it came from. */
  explain(problem: string): string;
  /** How many destinations came from files. */
  fromFiles: number;
}

/**
 * Expands `pinnedRoutes: [{file: prefixes/isp2.txt, uplink: isp2}]`: the file
 * holds one destination per line ("203.0.113.0/24"); `#` starts a comment and
 * blank lines are skipped. A relative path is taken from `baseDir` (the
 * directory of the stack file).
 */
export function expandRouteFiles(raw: unknown, baseDir: string): ExpandedSite {
  const problems: string[] = [];
  const origins = new Map<number, { index: number; file: string; line: number }>();
  const none: ExpandedSite = { site: raw, problems, explain: (p) => p, fromFiles: 0 };
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return none;
  const pins = (raw as { pinnedRoutes?: unknown }).pinnedRoutes;
  if (!Array.isArray(pins) || !pins.some(isFileEntry)) return none;
  const out: unknown[] = [];
  let fromFiles = 0;
  pins.forEach((pin, index) => {
    if (!isFileEntry(pin)) {
      out.push(pin);
      return;
    }
    const { file, ...rest } = pin as Record<string, unknown>;
    const unknown = Object.keys(rest).filter((k) => !FILE_ENTRY_FIELDS.includes(k));
    for (const k of unknown)
      problems.push(`pinnedRoutes[${index}].${k}: unknown field (an entry with "file" has only file, uplink and fallback)`);
    if (typeof file !== "string" || file === "") {
      problems.push(`pinnedRoutes[${index}].file: must be the path of a file with one destination per line`);
      return;
    }
    const full = path.resolve(baseDir, file);
    let text: string;
    try {
      text = fs.readFileSync(full, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problems.push(
        `pinnedRoutes[${index}].file: cannot read ${file} (${code === "ENOENT" ? `no such file in ${baseDir}` : (code ?? String(err))})`,
      );
      return;
    }
    const before = out.length;
    text.split("\n").forEach((line, i) => {
      const destination = line.replace(/#.*/, "").trim();
      if (destination === "") return;
      origins.set(out.length, { index, file, line: i + 1 });
      out.push({ ...rest, destination });
    });
    if (out.length === before) problems.push(`pinnedRoutes[${index}].file: ${file} lists no destination`);
    fromFiles += out.length - before;
  });
  const explain = (problem: string) =>
    problem.replace(/pinnedRoutes\[(\d+)\](\.(\w+))?/g, (whole, n: string, _dot, field?: string) => {
      const o = origins.get(Number(n));
      if (!o) return whole;
      // The uplink and fallback are the file entry's own; a destination is one line of its file.
      return field === "destination" || field === undefined
        ? `pinnedRoutes[${o.index}].file (${o.file} line ${o.line})`
        : `pinnedRoutes[${o.index}].${field}`;
    });
  return { site: { ...(raw as object), pinnedRoutes: out }, problems, explain, fromFiles };
}

function isFileEntry(pin: unknown): boolean {
  return !!pin && typeof pin === "object" && "file" in pin;
}

/**
 * Problems the schema does not see because they are about the whole
 * document: too many pinned routes in all.
 */
export function sizeProblems(site: unknown): string[] {
  const pins = (site as { pinnedRoutes?: unknown } | null)?.pinnedRoutes;
  if (!Array.isArray(pins) || pins.length <= MAX_PINNED_ROUTES) return [];
  return [
    `pinnedRoutes: ${pins.length.toLocaleString("en-US")} destinations, at most ${MAX_PINNED_ROUTES.toLocaleString("en-US")} are supported ` +
      `(the most measured on the lab: first up 30 s, destroy 20 s); aggregate them into shorter prefixes`,
  ];
}

export interface LoadedSite {
  /** The key the site was read from (SITE_KEY or LEGACY_SITE_KEY), when there is one. */
  key?: string;
  /** The site with its route files expanded, ready for validateSite; absent when there is no site to read. */
  site?: unknown;
  /** Problems found before the schema's: the key, the size, the route files. */
  problems: string[];
  /** Rewrites a schema problem to name the route file and line of an expanded destination. */
  explain(problem: string): string;
  fromFiles: number;
}

/** Reads the site from a stack's config (key -> plain value) and expands its route files, relative to `baseDir`. */
export function loadSiteFromConfig(config: Record<string, unknown>, baseDir: string): LoadedSite {
  const which = siteKeyOf(config);
  if ("problem" in which) return { problems: [which.problem], explain: (p) => p, fromFiles: 0 };
  const raw = config[which.key];
  const size = inlineSizeProblem(raw, which.key);
  const expanded = expandRouteFiles(raw, baseDir);
  return {
    key: which.key,
    site: expanded.site,
    problems: [...(size ? [size] : []), ...expanded.problems, ...sizeProblems(expanded.site)],
    explain: expanded.explain,
    fromFiles: expanded.fromFiles,
  };
}

/** validateSite on a loaded site, with the loading problems first and each problem about a route file's line named by file and line. */
export function validateLoaded(loaded: LoadedSite): SiteResult {
  if (loaded.site === undefined) return { ok: false, problems: loaded.problems };
  const result = validateSite(loaded.site);
  if (result.ok && loaded.problems.length === 0) return result;
  const schema = result.ok ? [] : result.problems.map(loaded.explain);
  return { ok: false, problems: [...new Set([...loaded.problems, ...schema])] };
}
