/**
 * @module tunnel
 * One attempt to hand an HTTP upgrade (a WebSocket handshake) to the runtime: the request goes
 * out on a connection of its own, and once the runtime answers 101 the two sockets are joined
 * byte for byte, with backpressure both ways, until either side closes. An answer that is not an
 * upgrade (the program's 426, the loader's 401) reaches the client as it is, and the connection
 * closes after it: requests after an upgrade attempt never bypass admission on a raw pipe.
 */
import { request, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { HOP_BY_HOP, type Outcome, type RuntimeTarget } from "./forward.ts";

export interface UpgradeRequest {
  method: string;
  path: string;
  /** Names and values in turn, hop-by-hop ones already out (forward.ts `forwardableHeaders`). */
  headers: string[];
  /** The client's `Upgrade` header (the protocol it asks for). */
  protocol: string;
}

/** The answer's head as HTTP/1.1 text, hop-by-hop headers out unless `keep` names them. */
function headText(answer: IncomingMessage, keep: ReadonlySet<string>, extra: string[]): string {
  let text = `HTTP/1.1 ${answer.statusCode ?? 502} ${answer.statusMessage ?? ""}\r\n`;
  const raw = answer.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (!HOP_BY_HOP.has(lower) || keep.has(lower)) text += `${name}: ${raw[i + 1]}\r\n`;
  }
  for (let i = 0; i < extra.length; i += 2) text += `${extra[i]}: ${extra[i + 1]}\r\n`;
  return `${text}\r\n`;
}

const UPGRADED_HEADERS: ReadonlySet<string> = new Set(["connection", "upgrade"]);
const NONE: ReadonlySet<string> = new Set();

/**
 * Sends `upgrade` to the runtime and relays its answer on `client` (the socket Node's `upgrade`
 * event gave, with `head`: bytes the client sent after its request). `onHead` runs when the
 * runtime's answer begins. Resolves when the tunnel (or the plain answer) is over.
 */
export function tunnel(
  target: RuntimeTarget,
  upgrade: UpgradeRequest,
  client: Duplex,
  head: Buffer,
  onHead: () => void,
): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    let settled = false;
    let answering = false;
    const settle = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      client.off("close", onClientClose);
      resolve(outcome);
    };
    const upstream = request({
      host: target.host,
      port: target.port,
      method: upgrade.method,
      path: upgrade.path,
      // A connection of its own: an upgraded socket never returns to a pool.
      agent: false,
      headers: [
        "host",
        target.publicHost,
        ...upgrade.headers,
        "connection",
        "Upgrade",
        "upgrade",
        upgrade.protocol,
      ] as unknown as Record<string, string>,
      setHost: false,
    });
    const onClientClose = () => {
      upstream.destroy();
      settle({ kind: "client_gone" });
    };
    client.on("close", onClientClose);

    upstream.on("error", (error: NodeJS.ErrnoException) => {
      if (answering) {
        client.destroy();
        return settle({ kind: "broken" });
      }
      settle({ kind: "lost", reached: error.code !== "ECONNREFUSED" });
    });

    upstream.on("upgrade", (answer: IncomingMessage, socket: Duplex, upstreamHead: Buffer) => {
      answering = true;
      onHead();
      client.off("close", onClientClose);
      socket.on("error", () => socket.destroy());
      const done = () => {
        socket.destroy();
        client.destroy();
        settle({ kind: "answered", status: answer.statusCode ?? 101 });
      };
      socket.once("close", done);
      client.once("close", done);
      client.write(headText(answer, UPGRADED_HEADERS, []));
      if (upstreamHead.length > 0) client.write(upstreamHead);
      if (head.length > 0) socket.write(head);
      socket.pipe(client);
      client.pipe(socket);
    });

    upstream.on("response", (answer: IncomingMessage) => {
      answering = true;
      onHead();
      // Delimited by the connection's end: the client's next request must come through admission.
      client.write(headText(answer, NONE, ["connection", "close"]));
      answer.pipe(client);
      answer.on("end", () => settle({ kind: "answered", status: answer.statusCode ?? 502 }));
      answer.on("error", () => {
        client.destroy();
        settle({ kind: "broken" });
      });
    });

    upstream.end();
  });
}
