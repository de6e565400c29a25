// The bench's two kinds of chart (grouped bars, lines over a numeric x) as
// Vega-Lite specs. Pure: the data shapes in, a spec out; bench/vega.ts draws it.
// vega-lite is ESM-only; a type import from this CommonJS file has to say so.
import type { TopLevelSpec } from "vega-lite" with { "resolution-mode": "import" };

export interface BarChart {
  title: string;
  yLabel: string;
  xLabel?: string;
  /** One group per category on the x axis, in this order. */
  categories: string[];
  /** One bar per series in every group; NaN or undefined leaves a gap. */
  series: { name: string; values: (number | undefined)[] }[];
  /** Horizontal reference lines, e.g. a target, labelled where they end. */
  refs?: { value: number; label: string }[];
  /** Width of the plot area in pixels. */
  width?: number;
}

export interface LineChart {
  title: string;
  yLabel: string;
  xLabel: string;
  logX?: boolean;
  series: { name: string; points: [number, number][]; dashed?: boolean }[];
  width?: number;
}

const HEIGHT = 340;
// Vega truncates labels past 160-180 px with an ellipsis; the bench's series
// and category names are longer than that and are the point of the chart.
const CONFIG = { legend: { labelLimit: 400 }, axis: { labelLimit: 400 } };
// Three significant digits, trailing zeros dropped: what a reader compares.
const VALUE_FORMAT = ".3~r";

type Layer = Extract<TopLevelSpec, { layer: unknown }>["layer"][number];

const finite = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);

export function barChartSpec(c: BarChart): TopLevelSpec {
  const names = c.series.map((s) => s.name);
  const bars = c.series.flatMap((s) =>
    c.categories.flatMap((category, i) => (finite(s.values[i]) ? [{ category, series: s.name, value: s.values[i] }] : [])),
  );
  const x = { field: "category", type: "nominal", sort: c.categories, title: c.xLabel ?? null, axis: { labelAngle: 0 } } as const;
  const xOffset = { field: "series", type: "nominal", sort: names } as const;
  const y = { field: "value", type: "quantitative", title: c.yLabel } as const;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: c.title,
    width: c.width ?? 720,
    height: HEIGHT,
    config: CONFIG,
    layer: [
      {
        data: { values: bars },
        mark: { type: "bar" },
        encoding: { x, xOffset, y, color: { field: "series", type: "nominal", sort: names, scale: { domain: names }, title: null, legend: { orient: "bottom" } } },
      },
      {
        data: { values: bars },
        mark: { type: "text", dy: -6, fontSize: 10 },
        encoding: { x, xOffset, y, text: { field: "value", type: "quantitative", format: VALUE_FORMAT } },
      },
      ...refLayers(c.refs ?? []),
    ],
  };
}

/** A dashed rule per reference value, labelled just right of the plot, clear of the bars' own labels. */
function refLayers(refs: { value: number; label: string }[]): Layer[] {
  if (!refs.length) return [];
  const y = { field: "value", type: "quantitative" } as const;
  return [
    { data: { values: refs }, mark: { type: "rule", strokeDash: [4, 4], color: "black" }, encoding: { y } },
    {
      data: { values: refs },
      mark: { type: "text", align: "left", baseline: "middle", x: "width", dx: 4, fontSize: 11 },
      encoding: { y, text: { field: "label", type: "nominal" } },
    },
  ];
}

export function lineChartSpec(c: LineChart): TopLevelSpec {
  const names = c.series.map((s) => s.name);
  const points = c.series.flatMap((s) => s.points.filter(([px, py]) => finite(px) && finite(py)).map(([px, py]) => ({ series: s.name, x: px, y: py })));
  const xs = points.map((p) => p.x);
  // A log axis ticks at the powers of ten the data spans, as the old plots did.
  const decades = [];
  if (c.logX && xs.length) {
    for (let e = Math.floor(Math.log10(Math.min(...xs))); e <= Math.ceil(Math.log10(Math.max(...xs))); e++) decades.push(10 ** e);
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: c.title,
    width: c.width ?? 720,
    height: HEIGHT,
    config: CONFIG,
    data: { values: points },
    mark: { type: "line", point: true, strokeWidth: 2 },
    encoding: {
      x: {
        field: "x",
        type: "quantitative",
        title: c.xLabel,
        scale: c.logX ? { type: "log", domain: decades.length ? [decades[0], decades[decades.length - 1]] : undefined } : { zero: false },
        axis: c.logX ? { values: decades, format: ",d" } : {},
      },
      y: { field: "y", type: "quantitative", title: c.yLabel, scale: { zero: true } },
      color: { field: "series", type: "nominal", sort: names, scale: { domain: names }, title: null, legend: { orient: "bottom", columns: 3, symbolType: "stroke", symbolStrokeWidth: 2 } },
      // Same field and domain as color, so Vega-Lite draws one legend with both.
      strokeDash: { field: "series", type: "nominal", sort: names, scale: { domain: names, range: c.series.map((s) => (s.dashed ? [6, 4] : [1, 0])) }, title: null },
    },
  };
}
