// Renders a Vega-Lite spec to an SVG string in Node, without a browser or a
// canvas: vega-lite compiles it to a Vega spec, a headless vega View draws it.
// vega-lite is ESM-only; a type import from this CommonJS file has to say so.
import type { TopLevelSpec } from "vega-lite" with { "resolution-mode": "import" };

/** The SVG text of one chart. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // Both packages are ESM-only. This file is compiled with module node16
  // (bench/tsconfig.json), so these stay real import()s in the CommonJS output;
  // loading them lazily also keeps them off the path of everything but plots.
  const [vega, vegaLite] = await Promise.all([import("vega"), import("vega-lite")]);
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
