/**
 * @module tunnel
 * One attempt to hand an HTTP upgrade (a WebSocket handshake) to the runtime: the request goes
 * out on a connection of its own, and once the runtime answers 101 the two sockets are joined
 * byte for byte until either side closes: the client's bytes with backpressure, the runtime's
 * read as they come, a client that falls too far behind cut (`fallenBehind`). An answer that is not an
 * upgrade (the program's 426, the loader's 401) reaches the client as it is, and the connection
 * closes after it: requests after an upgrade attempt never bypass admission on a raw pipe.
 */
import { request, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import {
  FOR_SUPERVISOR_ONLY,
  HOP_BY_HOP,
  type Outcome,
  loaderReportOf,
  type LoaderReport,
  type RuntimeTarget,
  settleOnce,
} from "./forward.ts";
import { closeFrame, FrameBoundaries, SERVICE_RESTART } from "./ws-frames.ts";

export interface UpgradeRequest {
  method: string;
  path: string;
  /** Names and values in turn, hop-by-hop ones already out (forward.ts `forwardableHeaders`). */
  headers: string[];
  /** The client's `Upgrade` header (the protocol it asks for). */
  protocol: string;
}

/** The answer's head as HTTP/1.1 text, hop-by-hop headers out unless `keep` names them, and the loader's word to this process out. */
function headText(answer: IncomingMessage, keep: ReadonlySet<string>, extra: string[]): string {
  let text = `HTTP/1.1 ${answer.statusCode ?? 502} ${answer.statusMessage ?? ""}\r\n`;
  const raw = answer.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if ((!HOP_BY_HOP.has(lower) || keep.has(lower)) && !FOR_SUPERVISOR_ONLY.has(lower))
      text += `${name}: ${raw[i + 1]}\r\n`;
  }
  for (let i = 0; i < extra.length; i += 2) text += `${extra[i]}: ${extra[i + 1]}\r\n`;
  return `${text}\r\n`;
}

/**
 * How far behind (bytes the runtime sent that the client has not taken) one WebSocket's client
 * may fall, and all of them together, before it is cut (DWL_WEBSOCKET_LAG_BYTES,
 * DWL_WEBSOCKETS_LAG_BYTES). workerd never holds back a program's `send()`: relayed with
 * backpressure, a client that stops reading made the runtime buffer for it without bound
 * (measured: 512 MB in 0.3 s from an echo of 8 messages), until DWL_MAX_RSS_MB restarted it under
 * every tenant. So the runtime's side is always read, and a slow client costs at most this here.
 */
export interface LagBounds {
  clientBytes: number;
  totalBytes: number;
}
/** Below this a client is not taken to be lagging (the lags are summed only past it). */
const LAG_NOTICED_BYTES = 1024 * 1024;

/** The clients of the open tunnels, whose unsent bytes (`writableLength`) make the total lag. */
const tunnelClients = new Set<Duplex>();

/** Whether `client` is too far behind: alone, or with the others when it lags at all. */
function fallenBehind(client: Duplex, bounds: LagBounds): boolean {
  const lag = client.writableLength;
  if (lag <= Math.min(LAG_NOTICED_BYTES, bounds.clientBytes)) return false;
  if (lag > bounds.clientBytes) return true;
  let total = 0;
  for (const other of tunnelClients) total += other.writableLength;
  return total > bounds.totalBytes;
}

/** The close frame for a runtime that went down while the WebSocket was open. */
const RUNTIME_WENT_DOWN = closeFrame(SERVICE_RESTART, "the runtime restarted; connect again");
/** How long a client has to close after that close frame before its connection is cut. */
const CLOSE_GRACE_MS = 5_000;

const UPGRADED_HEADERS: ReadonlySet<string> = new Set(["connection", "upgrade"]);
const NONE: ReadonlySet<string> = new Set();

/**
 * Sends `upgrade` to the runtime and relays its answer on `client` (the socket Node's `upgrade`
 * event gave, with `head`: bytes the client sent after its request). `onHead` runs when the
 * runtime's answer begins, with its status and the run's CPU budget if the loader reported it. Resolves when the tunnel (or the plain answer) is over.
 */
export function tunnel(
  target: RuntimeTarget,
  upgrade: UpgradeRequest,
  client: Duplex,
  head: Buffer,
  lag: LagBounds,
  onHead: (status: number, report: LoaderReport) => void,
  restarted: () => Promise<boolean>,
): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    let answering = false;
    const settle = settleOnce(resolve, () => client.off("close", onClientClose));
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
      settle({ kind: "client_gone", cut: true });
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
      onHead(answer.statusCode ?? 101, loaderReportOf(answer.rawHeaders));
      client.off("close", onClientClose);
      socket.on("error", () => socket.destroy());
      tunnelClients.add(client);
      const frames = new FrameBoundaries();
      const done = () => {
        tunnelClients.delete(client);
        socket.destroy();
        settle({ kind: "answered", status: answer.statusCode ?? 101 });
      };
      // The runtime's side ended: as a WebSocket ends (its close frame relayed); dropped by the
      // runtime (a handler that threw or ran out of CPU), as it was; or by going down
      // mid-conversation, which the client then hears as a restart rather than an abnormal drop.
      let ending = false;
      const endClient = async () => {
        if (ending) return;
        ending = true;
        const restart = !frames.closeSeen && frames.atBoundary && (await restarted());
        if (client.writableEnded || client.destroyed) return;
        client.end(restart ? RUNTIME_WENT_DOWN : undefined);
        setTimeout(() => client.destroy(), CLOSE_GRACE_MS).unref();
      };
      socket.once("close", () => {
        void endClient();
        done();
      });
      client.once("close", done);
      client.write(headText(answer, UPGRADED_HEADERS, []));
      if (upstreamHead.length > 0) {
        frames.feed(upstreamHead);
        client.write(upstreamHead);
      }
      if (head.length > 0) socket.write(head);
      socket.on("data", (chunk: Buffer) => {
        frames.feed(chunk);
        client.write(chunk);
        if (fallenBehind(client, lag)) {
          client.destroy();
          done();
        }
      });
      socket.on("end", () => void endClient());
      client.pipe(socket);
    });

    upstream.on("response", (answer: IncomingMessage) => {
      answering = true;
      onHead(answer.statusCode ?? 502, loaderReportOf(answer.rawHeaders));
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
