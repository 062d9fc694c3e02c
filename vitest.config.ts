import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" } })],
        test: {
          name: "workerd",
          // The first request in a fresh test runtime pays for compiling esbuild.wasm (~7 s).
          testTimeout: 30_000, include: ["apps/**/*.test.ts", "packages/**/*.test.ts"], exclude: ["**/*.node.test.ts", "**/node_modules/**"] },
      },
    ],
  },
});
