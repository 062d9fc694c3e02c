/**
 * @module preview
 * Shows a sandbox's page in an <iframe>. Sandbox HTTP needs `Authorization`, which an iframe
 * navigation cannot send, and the key must never reach the sandbox's own code. So the
 * playground fetches the page itself (with the key) and posts the text to `/playground/frame`,
 * a blank shell served with a CSP `sandbox` (and loaded with the iframe `sandbox` attribute):
 * an opaque origin where the page's own scripts run but cannot read the key or call the API.
 */

const FRAME_PATH = "/playground/frame";

/** Loads a fresh shell (dropping the previous page and its scripts), then writes `body` into it. */
export function showInFrame(frame: HTMLIFrameElement, body: string, contentType: string): Promise<void> {
  const html = /^\s*text\/html\b/i.test(contentType);
  return new Promise((resolve) => {
    frame.addEventListener(
      "load",
      () => {
        // The shell's origin is opaque, so no targetOrigin but "*" can name it; only this
        // freshly loaded frame, which runs nothing but the shell's listener yet, receives it.
        frame.contentWindow?.postMessage({ type: "dwl-preview", html, body }, "*");
        resolve();
      },
      { once: true },
    );
    frame.src = `${FRAME_PATH}?v=${Date.now()}`;
  });
}
