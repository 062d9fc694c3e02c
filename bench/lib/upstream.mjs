// The loopback upstream that egress scenarios call: a tiny HTTP server answering "ok". It runs
// in a worker thread so that the load generator's busy event loop (1,000 requests in flight)
// does not add queueing delay to the upstream's answers, and it ends with the bench process.
import { Worker } from "node:worker_threads";

const SERVER = `
const { createServer } = require("node:http");
const { parentPort } = require("node:worker_threads");
const server = createServer((req, res) => {
  req.resume();
  req.on("end", () => res.writeHead(200, { "content-type": "text/plain", "content-length": "2" }).end("ok"));
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => parentPort.postMessage(server.address().port));
parentPort.on("message", () => server.close(() => process.exit(0)));
`;

/** @returns {Promise<{ port: number, url: string, stop: () => Promise<void> }>} */
export async function startUpstream() {
  const worker = new Worker(SERVER, { eval: true });
  const port = await new Promise((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });
  return {
    port,
    url: `http://127.0.0.1:${port}/`,
    stop: async () => {
      worker.postMessage("stop");
      // terminate() as a bound: close() waits for keep-alive sockets the runtime may still hold.
      await Promise.race([
        new Promise((resolve) => worker.once("exit", resolve)),
        new Promise((resolve) => setTimeout(resolve, 2_000)),
      ]);
      await worker.terminate();
    },
  };
}
