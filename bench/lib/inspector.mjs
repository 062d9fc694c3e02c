// The loader isolate's V8 heap, read through wrangler's inspector port (Chrome DevTools Protocol):
// tells JavaScript garbage in the loader apart from memory workerd holds natively. Best effort:
// any failure answers undefined, the figure is diagnostic only.

/** One CDP call on a fresh connection; wrangler's inspector proxy wants an Origin it knows. */
async function call(inspectorPort, method, timeoutMs) {
  const ws = new WebSocket(`ws://127.0.0.1:${inspectorPort}/ws`, { headers: { origin: "http://localhost" } });
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("inspector timeout")), timeoutMs);
      ws.onerror = () => reject(new Error("inspector connection failed"));
      ws.onopen = () => ws.send(JSON.stringify({ id: 1, method }));
      ws.onmessage = (message) => {
        const data = JSON.parse(message.data);
        if (data.id !== 1) return;
        clearTimeout(timer);
        data.error ? reject(new Error(data.error.message)) : resolve(data.result);
      };
    });
  } finally {
    ws.close();
  }
}

/** `{ usedMb, totalMb }` of the loader isolate, after a full GC when `collect` is set. */
export async function loaderHeap(inspectorPort, { collect = false, timeoutMs = 5_000 } = {}) {
  try {
    if (collect) await call(inspectorPort, "HeapProfiler.collectGarbage", timeoutMs);
    const { usedSize, totalSize } = await call(inspectorPort, "Runtime.getHeapUsage", timeoutMs);
    return { usedMb: usedSize / 2 ** 20, totalMb: totalSize / 2 ** 20 };
  } catch {
    return undefined;
  }
}
