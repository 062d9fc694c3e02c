# Monte Carlo estimate of π in Python: sample points in the unit square, count those inside the
# quarter circle, draw them as an SVG saved to the tenant's files, and return the estimate.
# Run it and download the chart: see docs/python.md.
import random

SIZE = 400
MAX_DRAWN = 2_000


async def main(input, env):
    points = min(max(int((input or {}).get("points", 10_000)), 1), 1_000_000)
    inside = 0
    dots = []
    for i in range(points):
        x, y = random.random(), random.random()
        hit = x * x + y * y <= 1
        inside += hit
        if i < MAX_DRAWN:
            color = "#2563eb" if hit else "#dc2626"
            dots.append(f'<circle cx="{x * SIZE:.1f}" cy="{(1 - y) * SIZE:.1f}" r="1.5" fill="{color}"/>')
    estimate = 4 * inside / points
    svg = "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE + 30}" viewBox="0 0 {SIZE} {SIZE + 30}">',
        f'<rect width="{SIZE}" height="{SIZE}" fill="#f8fafc" stroke="#94a3b8"/>',
        f'<path d="M 0 0 A {SIZE} {SIZE} 0 0 1 {SIZE} {SIZE}" fill="none" stroke="#0f172a" stroke-width="2"/>',
        *dots,
        f'<text x="8" y="{SIZE + 22}" font-family="sans-serif" font-size="16">π ≈ {estimate:.5f} from {points} points</text>',
        "</svg>",
    ])
    await env.FILES.put("charts/pi-python.svg", svg, {"httpMetadata": {"contentType": "image/svg+xml"}})
    print(f"sampled {points} points, {inside} inside")
    return {"estimate": estimate, "points": points, "inside": inside, "chart": "charts/pi-python.svg"}
