// The SVG path of the bench's plots: a chart from a tiny in-memory dataset goes
// through vega-lite and a headless vega View. What is asserted is what a reader
// needs from the file: that it is an SVG and carries the title, the axis
// titles, the categories and the legend.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { barChartSpec, lineChartSpec } from "../charts";
import { renderSvg } from "../vega";

/** The text of every <text> element, in document order. */
const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

describe("bench charts (SVG)", () => {
  test("a grouped bar chart with a reference line", async () => {
    const svg = await renderSvg(
      barChartSpec({
        title: "Tiny bar chart",
        yLabel: "seconds",
        xLabel: "operation",
        categories: ["first up", "destroy"],
        series: [
          { name: "pulumi", values: [1.5, 1.25] },
          { name: "floor", values: [0.5, NaN] },
        ],
        refs: [{ value: 1, label: "one second" }],
      }),
    );
    assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\s*$/);
    const t = texts(svg);
    for (const s of ["Tiny bar chart", "seconds", "operation", "first up", "destroy", "pulumi", "floor", "one second"]) {
      assert.ok(t.includes(s), `"${s}" is drawn (texts: ${t.join(" | ")})`);
    }
    // Each finite value is labelled on its bar; the NaN leaves a gap, not a label.
    for (const v of ["1.5", "1.25", "0.5"]) assert.ok(t.includes(v), `bar label ${v}`);
    assert.ok(!t.includes("NaN"));
  });

  test("a line chart over a log x axis", async () => {
    const svg = await renderSvg(
      lineChartSpec({
        title: "Tiny line chart",
        yLabel: "seconds",
        xLabel: "pinned routes (log scale)",
        logX: true,
        series: [
          {
            name: "pulumi first up",
            points: [
              [10, 2],
              [1000, 3],
            ],
          },
          {
            name: "floor first up",
            points: [
              [10, 0.5],
              [1000, 0.6],
            ],
            dashed: true,
          },
        ],
      }),
    );
    assert.match(svg, /^<svg/);
    const t = texts(svg);
    for (const s of [
      "Tiny line chart",
      "seconds",
      "pinned routes (log scale)",
      "pulumi first up",
      "floor first up",
      "10",
      "100",
      "1,000",
    ]) {
      assert.ok(t.includes(s), `"${s}" is drawn (texts: ${t.join(" | ")})`);
    }
    // The floor's series is dashed, in the plot and in the legend.
    assert.match(svg, /stroke-dasharray="6,4"/);
  });
});
