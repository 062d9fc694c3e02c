// The latency chart of bench/results.md (bench/latency.svg), drawn by hand: one panel per
// concurrency level, one group of bars (p50, p95, p99) per scenario, on a logarithmic axis shared
// by all panels so that panels compare with each other. Each bar has a <title> with its value.

const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const PERCENTILES = ["p50", "p95", "p99"];
// Loader rows in blues, raw-binding baselines in greys; darker = lower percentile.
const COLORS = { loader: ["#1f4e96", "#4f83cc", "#a9c4ea"], baseline: ["#4d4d4d", "#8c8c8c", "#cfcfcf"] };

/**
 * @param {{ title: string, subtitle: string, panels: { concurrency: number, groups: { label: string, baseline: boolean, p50: number, p95: number, p99: number, n: number }[] }[] }} chart
 * @returns {string} SVG text
 */
export function latencyChart({ title, subtitle, panels }) {
  const cols = 2;
  const panelW = 600;
  const panelH = 300;
  const plot = { left: 64, right: 12, top: 28, bottom: 74 };
  const width = cols * panelW;
  const headerH = 84;
  const rows = Math.ceil(panels.length / cols);
  const height = headerH + rows * panelH + 10;

  const values = panels
    .flatMap((p) => p.groups.flatMap((g) => PERCENTILES.map((k) => g[k])))
    .filter((v) => Number.isFinite(v) && v > 0);
  const minDecade = Math.floor(Math.log10(Math.max(0.1, Math.min(...values))));
  const maxDecade = Math.ceil(Math.log10(Math.max(...values)));
  const decades = Math.max(1, maxDecade - minDecade);

  const out = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
  );
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(`<text x="16" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="16" y="42" fill="#444">${esc(subtitle)}</text>`);
  // Legend, under the subtitle.
  let lx = 16;
  for (const [kind, label] of [
    ["loader", "DWL /execute"],
    ["baseline", "raw Worker Loader (baseline)"],
  ]) {
    PERCENTILES.forEach((p, i) => {
      out.push(`<rect x="${lx}" y="54" width="10" height="10" fill="${COLORS[kind][i]}"/>`);
      out.push(`<text x="${lx + 13}" y="63">${p}</text>`);
      lx += 42;
    });
    out.push(`<text x="${lx}" y="63" fill="#444">${esc(label)}</text>`);
    lx += 190;
  }
  out.push(`<text x="${lx + 20}" y="63" fill="#444">log scale; hover a bar for its value and request count</text>`);

  panels.forEach((panel, index) => {
    const ox = (index % cols) * panelW;
    const oy = headerH + Math.floor(index / cols) * panelH;
    const x0 = ox + plot.left;
    const x1 = ox + panelW - plot.right;
    const y0 = oy + panelH - plot.bottom; // axis baseline
    const y1 = oy + plot.top;
    const y = (v) => y0 - ((Math.log10(Math.max(v, 10 ** minDecade)) - minDecade) / decades) * (y0 - y1);

    out.push(
      `<text x="${x0}" y="${oy + 18}" font-size="13" font-weight="bold">concurrency ${panel.concurrency}</text>`,
    );
    for (let d = minDecade; d <= maxDecade; d++) {
      const v = 10 ** d;
      const yy = y(v).toFixed(1);
      out.push(`<line x1="${x0}" x2="${x1}" y1="${yy}" y2="${yy}" stroke="#e2e2e2"/>`);
      const label = v >= 1000 ? `${v / 1000} s` : `${v} ms`;
      out.push(`<text x="${x0 - 6}" y="${Number(yy) + 4}" text-anchor="end" fill="#555">${label}</text>`);
    }
    out.push(`<line x1="${x0}" x2="${x1}" y1="${y0}" y2="${y0}" stroke="#888"/>`);

    const groupW = (x1 - x0) / Math.max(1, panel.groups.length);
    const barW = Math.min(14, (groupW - 8) / 3);
    panel.groups.forEach((g, gi) => {
      const gx = x0 + gi * groupW + (groupW - 3 * barW) / 2;
      const palette = COLORS[g.baseline ? "baseline" : "loader"];
      PERCENTILES.forEach((p, pi) => {
        const v = g[p];
        if (!Number.isFinite(v)) return;
        const top = y(v);
        out.push(
          `<rect x="${(gx + pi * barW).toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 1).toFixed(1)}" height="${Math.max(0.5, y0 - top).toFixed(1)}" fill="${palette[pi]}">` +
            `<title>${esc(`${g.label}, concurrency ${panel.concurrency}: ${p} ${v.toFixed(1)} ms (${g.n} requests)`)}</title></rect>`,
        );
      });
      const lx2 = x0 + gi * groupW + groupW / 2;
      out.push(
        `<text transform="translate(${lx2.toFixed(1)},${y0 + 12}) rotate(-35)" text-anchor="end" fill="${g.baseline ? "#555" : "#1f4e96"}">${esc(g.label)}</text>`,
      );
    });
  });
  out.push(`</svg>`);
  return `${out.join("\n")}\n`;
}
