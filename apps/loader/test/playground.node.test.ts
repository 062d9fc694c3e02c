/**
 * The playground (GET /) in a real browser: Debian's chromium driven by playwright-core against
 * the loader under `wrangler dev`. Runs every example and checks what a person sees. The browser
 * is never downloaded: when /usr/bin/chromium is missing, the set-up installs Debian's package
 * with apt (as root), and otherwise skips with the reason. `DWL_CHROMIUM` names another binary.
 * Also checks the layout at 375, 800 and 1,400 px (no panel over another, Run and the result
 * reachable). Screenshots go to apps/loader/test/artifacts/ (gitignored); docs/playground.png, the
 * README's, is written when missing or with DWL_UPDATE_SCREENSHOTS=1.
 */
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServerClient, sharedDevServer } from "../../../test-support/dev-server.ts";

const CHROMIUM = process.env.DWL_CHROMIUM ?? "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const root = new URL("../../../", import.meta.url).pathname;
const artifacts = join(root, "apps/loader/test/artifacts");
const APT_TIMEOUT_MS = 600_000;

/** Runs a command, resolving with its exit code and the tail of its output. */
function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    let output = "";
    const child = spawn(command, args, {
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    child.stderr.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    child.on("error", (error) => resolve({ code: null, output: String(error) }));
    child.on("exit", (code) => resolve({ code, output }));
  });
}

/** null when chromium is there (installing Debian's package if need be), else why it is not. */
async function ensureChromium(): Promise<string | null> {
  if (existsSync(CHROMIUM)) return null;
  if (CHROMIUM !== "/usr/bin/chromium") return `DWL_CHROMIUM=${CHROMIUM} does not exist`;
  if (process.getuid?.() !== 0)
    return "/usr/bin/chromium is missing and installing it needs root: run `sudo apt-get install -y chromium`";
  console.log("playground test: installing Debian's chromium with apt-get (once)…");
  let result = await run("apt-get", ["install", "-y", "--no-install-recommends", "chromium"]);
  if (result.code !== 0) {
    await run("apt-get", ["update"]);
    result = await run("apt-get", ["install", "-y", "--no-install-recommends", "chromium"]);
  }
  return existsSync(CHROMIUM) ? null : `apt-get install chromium failed (exit ${result.code}):\n${result.output}`;
}

let server: DevServerClient;
let context: BrowserContext;
let page: Page;
let profile: string;
let skipReason: string | null = null;
const problems: string[] = [];

beforeAll(async () => {
  const [reason, shared] = await Promise.all([ensureChromium(), sharedDevServer()]);
  server = shared;
  skipReason = reason;
  if (reason) {
    console.warn(`playground test skipped: ${reason}`);
    return;
  }
  profile = mkdtempSync(join(tmpdir(), "dwl-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1440, height: 960 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" && /Content Security Policy|Refused to/i.test(message.text()))
      problems.push(`console: ${message.text()}`);
  });
  mkdirSync(artifacts, { recursive: true });
}, APT_TIMEOUT_MS + 120_000);

afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** Viewport widths the layout must hold at: a phone, a small tablet, a wide screen. */
const WIDTHS = [375, 800, 1400];

/**
 * In the page: every pair of visible panels whose boxes intersect (by more than a pixel, for
 * shared borders), and every panel that sticks out of the viewport's width.
 */
function measureLayout(): { overlaps: string[]; outside: string[]; scrollWidth: number } {
  const groups = [
    [".bar", ".source", ".output"],
    // Every panel of both columns against every other: a column's content can spill over the other's box.
    [
      ".bar",
      ".files",
      "#editor",
      "#options-box",
      "#example-note",
      "#status",
      "#error-pane",
      ".pane:has(#result)",
      "#preview-pane",
      ".pane:has(#logs)",
      "#egress-pane",
      ".pane:has(#timing)",
    ],
    ["#example", "#mode", "#api-key", "#api-key-toggle", "#run"],
  ];
  const overlaps: string[] = [];
  const outside: string[] = [];
  for (const group of groups) {
    const boxes = group
      .map((selector) => ({ selector, element: document.querySelector(selector) as HTMLElement | null }))
      .filter(
        (entry): entry is { selector: string; element: HTMLElement } =>
          entry.element !== null && entry.element.offsetParent !== null,
      )
      .map(({ selector, element }) => ({ selector, box: element.getBoundingClientRect() }));
    for (const { selector, box } of boxes)
      if (box.left < -1 || box.right > innerWidth + 1)
        outside.push(`${selector} spans ${Math.round(box.left)}..${Math.round(box.right)}`);
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i]!.box;
        const b = boxes[j]!.box;
        const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (w > 1 && h > 1) overlaps.push(`${boxes[i]!.selector} overlaps ${boxes[j]!.selector}`);
      }
    }
  }
  return { overlaps, outside, scrollWidth: document.documentElement.scrollWidth };
}

/** In the page: whether a tap at the centre of `selector` lands on it (nothing drawn on top). */
function hitsItself(selector: string): boolean {
  const element = document.querySelector(selector)!;
  const box = element.getBoundingClientRect();
  const x = box.left + box.width / 2;
  const y = box.top + Math.min(box.height / 2, 20);
  if (x < 0 || y < 0 || x > innerWidth || y > innerHeight) return false;
  const hit = document.elementFromPoint(x, y);
  return hit !== null && element.contains(hit);
}

const text = async (selector: string) => ((await page.locator(selector).first().textContent()) ?? "").trim();

/** Picks an example, runs it (button or Ctrl+Enter) and waits for the run to finish. */
async function runExample(id: string, how: "button" | "keys" = "button"): Promise<string> {
  await page.selectOption("#example", id);
  if (how === "keys") {
    await page.locator(".cm-content").click();
    await page.keyboard.press("Control+Enter");
  } else {
    await page.click("#run");
  }
  await page.waitForSelector('#status:is([data-state="ok"], [data-state="failed"])', { timeout: 60_000 });
  return text("#status");
}

describe("the playground page", () => {
  it("serves the page without a key, with an editor, examples and the dev key prefilled", async (ctx) => {
    if (skipReason) return ctx.skip();
    const response = await page.goto(`${server.base}/`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()["content-security-policy"]).toContain("script-src 'self'");
    await page.waitForSelector("body[data-ready=true] .cm-editor");
    expect(await page.inputValue("#api-key")).toBe("dwl_local_dev");
    expect(await page.locator("#example option").allTextContents()).toEqual([
      "Hello world",
      "Multi-file TypeScript",
      "Monte Carlo π (SVG chart)",
      "Monte Carlo π in Python",
      "Sandbox app (iframe)",
      "Denied egress",
      "Runtime error",
    ]);
    // TypeScript highlighting: a keyword and a type annotation are coloured unlike plain text.
    const colours = await page.evaluate(() => {
      const spans = Array.from(document.querySelectorAll(".cm-content span"));
      const colourOf = (word: string) => {
        const span = spans.find((s) => s.textContent === word);
        return span ? getComputedStyle(span).color : null;
      };
      return {
        keyword: colourOf("export"),
        type: colourOf("string"),
        plain: getComputedStyle(document.querySelector(".cm-line")!).color,
      };
    });
    expect(colours.keyword).toBeTruthy();
    expect(colours.keyword).not.toBe(colours.plain);
    expect(colours.type).not.toBe(colours.plain);
  });

  it("runs hello world: result, log lines with their levels, timing", async (ctx) => {
    if (skipReason) return ctx.skip();
    expect(await runExample("hello")).toMatch(/^ok in/);
    expect(await text("#result")).toContain('"greeting": "Hello, world!"');
    const logs = await page
      .locator("#logs li")
      .evaluateAll((items) =>
        items.map((li) => [li.querySelector(".level")?.textContent, li.querySelector(".message")?.textContent]),
      );
    expect(logs).toEqual([
      ["log", "hello, world!"],
      ["info", "each log line has a level…"],
      ["warn", "…and a time in ms since the run started"],
    ]);
    const timing = await page.locator("#timing dt").allTextContents();
    expect(timing).toEqual(
      expect.arrayContaining(["totalMs", "bundleMs", "startMs", "runMs", "cached", "roundTripMs"]),
    );
    expect(await text("#timing dd")).toMatch(/^\d+(\.\d+)? ms$/);
    expect(await page.isHidden("#error-pane")).toBe(true);
  });

  it("runs the multi-file example with Ctrl+Enter, sending `files`", async (ctx) => {
    if (skipReason) return ctx.skip();
    await page.selectOption("#example", "multi-file");
    expect(await page.locator("#file-tabs [role=tab]").allTextContents()).toEqual(["index.ts", "geometry.ts"]);
    await page.click("#file-tabs >> text=geometry.ts");
    expect(await text(".cm-content")).toContain("export type Shape");
    const request = page.waitForRequest((r) => r.url().endsWith("/execute"));
    expect(await runExample("multi-file", "keys")).toMatch(/^ok in/);
    expect(Object.keys((await request).postDataJSON().files)).toEqual(["index.ts", "geometry.ts"]);
    expect(await text("#result")).toContain('"total": 9.142');
    expect(await page.locator("#logs .message").allTextContents()).toEqual([
      "rect with area 6.000",
      "circle with area 3.142",
    ]);
  });

  it("runs Monte Carlo π and shows the SVG it saved, fetched from /files with the key", async (ctx) => {
    if (skipReason) return ctx.skip();
    const svg = page.waitForResponse((r) => r.url().endsWith("/files/playground/charts/pi.svg"));
    expect(await runExample("monte-carlo-pi")).toMatch(/^ok in/);
    expect((await svg).status()).toBe(200);
    expect(await text("#result")).toMatch(/"estimate": 3\.\d+/);
    expect(await text("#logs .message")).toMatch(/^sampled 20000 points, \d+ inside$/);
    const image = page.locator("#images img");
    await image.waitFor();
    await page.waitForFunction(
      () => (document.querySelector("#images img") as HTMLImageElement | null)?.naturalWidth === 400,
    );
    expect(await image.getAttribute("src")).toMatch(/^blob:/);
    expect(await image.getAttribute("alt")).toContain("charts/pi.svg");
    await page.screenshot({ path: join(artifacts, "playground.png") });
    const docs = join(root, "docs/playground.png");
    if (!existsSync(docs) || process.env.DWL_UPDATE_SCREENSHOTS === "1") {
      mkdirSync(join(root, "docs"), { recursive: true });
      copyFileSync(join(artifacts, "playground.png"), docs);
    }
  });

  it("runs Monte Carlo π in Python and shows its SVG", async (ctx) => {
    if (skipReason) return ctx.skip();
    const svg = page.waitForResponse((r) => r.url().endsWith("/files/playground/charts/pi-python.svg"));
    expect(await runExample("monte-carlo-pi-python")).toMatch(/^ok in/);
    expect((await svg).status()).toBe(200);
    expect(await text("#result")).toMatch(/"estimate": 3\.\d+/);
    expect(await text("#logs .message")).toMatch(/^sampled 20000 points, \d+ inside$/);
    await page.waitForFunction(
      () => (document.querySelector("#images img") as HTMLImageElement | null)?.naturalWidth === 400,
    );
  });

  it("deploys the sandbox app and shows its page in a sandboxed iframe that cannot reach the key", async (ctx) => {
    if (skipReason) return ctx.skip();
    const created = page.waitForResponse((r) => r.url().endsWith("/sandboxes") && r.request().method() === "POST");
    expect(await runExample("sandbox-app")).toMatch(/saved \(version 1\) and previewed$/);
    expect((await created).status()).toBe(201);
    const frame = page.frameLocator("#preview");
    expect(await frame.locator("h1").textContent()).toBe("Hello from a sandbox");
    expect(await frame.locator("#visits").textContent()).toBe("1");
    await frame.locator("#counter").click(); // its own inline script runs
    expect(await frame.locator("#counter").textContent()).toBe("Clicked 1 time");
    expect(await text("#preview-status")).toBe("GET / → 200 text/html; charset=utf-8");
    const isolation = await (await page.$("#preview"))!.contentFrame().then((f) =>
      f!.evaluate(() => {
        let storage: string;
        try {
          storage = String(localStorage.getItem("dwl-playground:key"));
        } catch {
          storage = "blocked";
        }
        return {
          origin: origin,
          storage,
          parent: (() => {
            try {
              return parent.document.title;
            } catch {
              return "blocked";
            }
          })(),
        };
      }),
    );
    expect(isolation).toEqual({ origin: "null", storage: "blocked", parent: "blocked" });
    await page.screenshot({ path: join(artifacts, "playground-sandbox.png") });

    // Run again: the same sandbox is updated (PUT, version 2), its warm module state kept.
    const updated = page.waitForResponse(
      (r) => /\/sandboxes\/[^/]+$/.test(new URL(r.url()).pathname) && r.request().method() === "PUT",
    );
    expect(await runExample("sandbox-app")).toMatch(/saved \(version 2\) and previewed$/);
    expect((await updated).status()).toBe(200);
    expect(await frame.locator("h1").textContent()).toBe("Hello from a sandbox");
  });

  it("shows a denied egress call as egress_denied", async (ctx) => {
    if (skipReason) return ctx.skip();
    expect(await runExample("egress-denied")).toBe("failed: egress_denied (EgressDeniedError)");
    expect(await text("#error-type")).toBe("egress_denied");
    expect(await text("#error-message")).toContain("api.github.com");
    expect(await text("#egress")).toContain("https://api.github.com/zen");
  });

  it("shows a runtime error with its stack and marks its line in the editor", async (ctx) => {
    if (skipReason) return ctx.skip();
    expect(await runExample("runtime-error")).toBe("failed: runtime (TypeError)");
    expect(await text("#error-name")).toBe("TypeError");
    expect(await text("#error-message")).toContain("toFixed");
    expect(await text("#error-stack")).toMatch(/index\.ts:12:\d+/);
    expect(await text("#error-location")).toMatch(/^index\.ts:12:\d+$/);
    expect(await text(".cm-dwl-error-line")).toBe("return third!.toFixed(2);");
    expect(await page.locator(".cm-gutter-lint .cm-lint-marker-error").count()).toBe(1);
    expect(await page.locator("#logs .message").allTextContents()).toEqual(["2 totals [ 5, 7.5 ]"]);
    await page.screenshot({ path: join(artifacts, "playground-error.png") });
  });

  it("keeps the API key in localStorage and reports a wrong one", async (ctx) => {
    if (skipReason) return ctx.skip();
    await page.fill("#api-key", "not-a-key");
    await page.reload();
    await page.waitForSelector("body[data-ready=true]");
    expect(await page.inputValue("#api-key")).toBe("not-a-key");
    expect(await runExample("hello")).toBe("request refused: unauthorized (HTTP 401)");
    expect(await text("#error-message")).toContain("dwl_local_dev");
    await page.fill("#api-key", "dwl_local_dev");
    expect(await runExample("hello")).toMatch(/^ok in/);
  });

  it("runs hello world and the sandbox app with Run at 375, 800 and 1,400 px: no panel overlaps another, the page scrolls to the result", async (ctx) => {
    if (skipReason) return ctx.skip();
    for (const width of WIDTHS) {
      const narrow = await context.newPage();
      narrow.on("pageerror", (error) => problems.push(`page error at ${width} px: ${error.message}`));
      await narrow.setViewportSize({ width, height: width < 600 ? 740 : 900 });
      await narrow.goto(`${server.base}/`);
      await narrow.waitForSelector("body[data-ready=true] .cm-editor");
      await narrow.fill("#api-key", "dwl_local_dev");
      await narrow.selectOption("#example", "hello");

      // Run is reachable: scrolled into view, and a click lands on it (playwright refuses to click a covered element).
      await narrow.locator("#run").scrollIntoViewIfNeeded();
      await narrow.click("#run", { timeout: 10_000 });
      await narrow.waitForSelector('#status:is([data-state="ok"], [data-state="failed"])', { timeout: 60_000 });
      expect(await narrow.locator("#status").textContent(), `the run at ${width} px`).toMatch(/^ok in/);
      await narrow.locator("#timing-legend li").first().waitFor();

      const layout = await narrow.evaluate(measureLayout);
      expect(layout.overlaps, `overlapping panels at ${width} px`).toEqual([]);
      expect(layout.outside, `panels wider than the ${width} px page`).toEqual([]);
      expect(layout.scrollWidth, `horizontal overflow at ${width} px`).toBeLessThanOrEqual(width);

      // The result is reachable: scrolled into view, it is what a tap at its centre hits.
      await narrow.locator("#result").scrollIntoViewIfNeeded();
      expect(await narrow.evaluate(hitsItself, "#result"), `#result covered at ${width} px`).toBe(true);
      expect(await narrow.locator("#result").textContent()).toContain('"greeting": "Hello, world!"');
      // The timing bar has a legend naming each coloured part.
      expect(await narrow.locator("#timing-legend li").evaluateAll((items) => items.map((li) => li.className))).toEqual(
        expect.arrayContaining(["legend-bundle", "legend-start", "legend-run"]),
      );
      await narrow.screenshot({ path: join(artifacts, `playground-${width}.png`), fullPage: true });

      // The sandbox preview (a long address line, a frame) fits as well.
      await narrow.selectOption("#example", "sandbox-app");
      await narrow.locator("#run").scrollIntoViewIfNeeded();
      await narrow.click("#run", { timeout: 10_000 });
      await narrow.waitForSelector('#status:is([data-state="ok"], [data-state="failed"])', { timeout: 60_000 });
      expect(await narrow.locator("#status").textContent(), `the sandbox run at ${width} px`).toMatch(/and previewed$/);
      const preview = await narrow.evaluate(measureLayout);
      expect(preview.overlaps, `overlapping panels with the preview at ${width} px`).toEqual([]);
      expect(preview.outside, `panels wider than the ${width} px page with the preview`).toEqual([]);
      expect(preview.scrollWidth, `horizontal overflow with the preview at ${width} px`).toBeLessThanOrEqual(width);
      await narrow.locator("#preview").scrollIntoViewIfNeeded();
      expect(await narrow.evaluate(hitsItself, "#preview"), `#preview covered at ${width} px`).toBe(true);
      await narrow.screenshot({ path: join(artifacts, `playground-sandbox-${width}.png`), fullPage: true });
      await narrow.close();
    }
  });

  it("ran without script errors or Content-Security-Policy violations", (ctx) => {
    if (skipReason) return ctx.skip();
    expect(problems).toEqual([]);
  });
});
