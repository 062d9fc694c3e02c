// The least a Node relay can do: node:http in, a keep-alive node:http client out, both bodies
// piped, nothing checked. bench/serving.mjs puts it beside the supervisor, in front of the same
// runtime port, so the hop's figure comes with the floor any node:http relay has on this machine.
//
// Usage: node bench/lib/relay.mjs <target origin> <port>  (prints "relay ready" once listening)
import { Agent, createServer, request } from "node:http";

const [origin, port] = process.argv.slice(2);
if (!origin || !port) throw new Error("usage: relay.mjs <target origin> <port>");
const target = new URL(origin);
const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });

createServer((req, res) => {
  const upstream = request(
    {
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: req.rawHeaders,
      agent,
      setHost: false,
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
      answer.pipe(res);
    },
  );
  upstream.on("error", () => res.destroy());
  req.pipe(upstream);
}).listen(Number(port), "127.0.0.1", () => console.log("relay ready"));
