/**
 * A WebSocket to a new sandbox of `server` whose program echoes each message ("echo:<data>") and
 * throws on "throw": the long-lived connection the supervisor's tests crash, drain and close.
 */
import type { DevServerClient } from "./dev-server.ts";

export async function openEchoWebSocket(server: DevServerClient): Promise<WebSocket> {
  const created = await server.post("/sandboxes", {
    code: `export default { fetch() {
      const [client, server] = Object.values(new WebSocketPair());
      server.accept();
      server.addEventListener("message", (event) => {
        if (event.data === "throw") throw new Error("the handler failed");
        server.send("echo:" + event.data);
      });
      return new Response(null, { status: 101, webSocket: client });
    } };`,
  });
  const { id } = (await created.json()) as { id: string };
  const url = `${server.base.replace(/^http/, "ws")}/sandboxes/${id}/http/`;
  // Node's WebSocket (undici) takes request headers, which browsers' does not.
  const ws = new WebSocket(url, { headers: { authorization: "Bearer dwl_local_dev" } } as unknown as string[]);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error("the WebSocket did not open"));
  });
  const echoed = new Promise((resolve) => ws.addEventListener("message", (e) => resolve(e.data), { once: true }));
  ws.send("hi");
  const answer = await echoed;
  if (answer !== "echo:hi") throw new Error(`the echo sandbox answered ${String(answer)}`);
  return ws;
}
