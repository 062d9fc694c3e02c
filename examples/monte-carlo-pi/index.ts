// Monte Carlo estimate of π: sample points in the unit square, count those inside the quarter
// circle, draw them as an SVG saved to the tenant's files, and return the estimate.
// Run it and download the chart: see docs/api.md, "The Monte Carlo π demo".

interface Input {
  points?: number;
}

interface Env {
  FILES: {
    put(key: string, value: string, options?: { httpMetadata?: { contentType?: string } }): Promise<{ size: number }>;
  };
}

const SIZE = 400;
const MAX_DRAWN = 2_000;

export default async function estimatePi(input: Input, env: Env) {
  const points = Math.min(Math.max(Math.floor(input?.points ?? 10_000), 1), 1_000_000);
  let inside = 0;
  const dots: string[] = [];
  for (let i = 0; i < points; i++) {
    const x = Math.random();
    const y = Math.random();
    const hit = x * x + y * y <= 1;
    if (hit) inside++;
    if (i < MAX_DRAWN) {
      dots.push(
        `<circle cx="${(x * SIZE).toFixed(1)}" cy="${((1 - y) * SIZE).toFixed(1)}" r="1.5" fill="${hit ? "#2563eb" : "#dc2626"}"/>`,
      );
    }
  }
  const estimate = (4 * inside) / points;
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE + 30}" viewBox="0 0 ${SIZE} ${SIZE + 30}">`,
    `<rect width="${SIZE}" height="${SIZE}" fill="#f8fafc" stroke="#94a3b8"/>`,
    `<path d="M 0 0 A ${SIZE} ${SIZE} 0 0 1 ${SIZE} ${SIZE}" fill="none" stroke="#0f172a" stroke-width="2"/>`,
    ...dots,
    `<text x="8" y="${SIZE + 22}" font-family="sans-serif" font-size="16">π ≈ ${estimate.toFixed(5)} from ${points} points</text>`,
    `</svg>`,
  ].join("\n");
  await env.FILES.put("charts/pi.svg", svg, { httpMetadata: { contentType: "image/svg+xml" } });
  console.log(`sampled ${points} points, ${inside} inside`);
  return { estimate, points, inside, chart: "charts/pi.svg" };
}
