/**
 * @module main
 * The playground page (GET /): pick an example, edit it, run it against this loader with the API
 * key kept in localStorage, and read the result, logs, error (marked in the editor), timing,
 * saved images and, for sandboxes, a live preview.
 */
import type { ExecuteResponse, SandboxInfo } from "@dwl/protocol";
import { Api, RequestFailure } from "./api.ts";
import { FileEditor } from "./editor.ts";
import { EXAMPLES, type Example, type RunMode } from "./examples.ts";
import { locate, Panes } from "./panes.ts";
import { showInFrame } from "./preview.ts";
import "./style.css";

const DEV_KEY = "dwl_local_dev";
const STORE = {
  key: "dwl-playground:key",
  example: "dwl-playground:example",
  sandbox: "dwl-playground:sandbox",
} as const;
const IMAGE_KEY = /^[^\s:?#]+\.(?:svg|png|jpe?g|gif|webp)$/i;
const MAX_IMAGES = 4;
/** Where style.css switches to one column (its `@media (max-width: 900px)`). */
const ONE_COLUMN = "(max-width: 900px)";

const stored = {
  get: (name: string): string | null => {
    try {
      return localStorage.getItem(name);
    } catch {
      return null; // storage disabled: the page still works for this visit
    }
  },
  set: (name: string, value: string): void => {
    try {
      localStorage.setItem(name, value);
    } catch {
      // storage disabled or full
    }
  },
};

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const keyInput = $<HTMLInputElement>("api-key");
const keyToggle = $<HTMLButtonElement>("api-key-toggle");
const exampleSelect = $<HTMLSelectElement>("example");
const modeSelect = $<HTMLSelectElement>("mode");
const runButton = $<HTMLButtonElement>("run");
const optionsInput = $<HTMLTextAreaElement>("options");
const note = $("example-note");
const previewPane = $("preview-pane");
const previewForm = $<HTMLFormElement>("preview-form");
const previewPath = $<HTMLInputElement>("preview-path");
const previewBase = $("preview-base");
const previewStatus = $("preview-status");
const previewFrame = $<HTMLIFrameElement>("preview");

const api = new Api(() => keyInput.value.trim());
const panes = new Panes((mark) => editor.markError(mark));
const nonce = document.querySelector<HTMLMetaElement>('meta[name="dwl-style-nonce"]')?.content ?? "";
const editor = new FileEditor($("editor"), $("file-tabs"), {
  onRun: () => void run(),
  nonce,
  onFilesChange: (count) => ($("remove-file").hidden = count < 2),
});

/** Edits survive switching examples (for this visit). */
const edited = new Map<string, { files: Record<string, string>; options: string; mode: RunMode }>();
let current: Example | null = null;
let running = false;

keyInput.value = stored.get(STORE.key) ?? DEV_KEY;
keyInput.addEventListener("input", () => stored.set(STORE.key, keyInput.value.trim()));
keyToggle.addEventListener("click", () => {
  const show = keyInput.type === "password";
  keyInput.type = show ? "text" : "password";
  keyToggle.textContent = show ? "Hide" : "Show";
  keyToggle.setAttribute("aria-pressed", String(show));
});

if (/Mac|iPhone|iPad/.test(navigator.platform)) $("run-keys").textContent = "⌘ Enter";
exampleSelect.append(...EXAMPLES.map((example) => new Option(example.title, example.id)));
exampleSelect.addEventListener("change", () => selectExample(exampleSelect.value));
runButton.addEventListener("click", () => void run());
document.addEventListener("keydown", (event) => {
  // The editor handles its own Ctrl/Cmd+Enter (and prevents the default); this covers the rest.
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.defaultPrevented) {
    event.preventDefault();
    void run();
  }
});
previewForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const id = stored.get(STORE.sandbox);
  if (id) void loadPreview(id);
});
$("add-file").addEventListener("click", () => {
  const name = prompt("New file name (relative path, e.g. util.ts)", "util.ts")?.trim();
  if (!name) return;
  if (!/^(?!\.{1,2}\/)(?!.*\/\.{1,2}\/)[\w.@/-]+\.(?:ts|tsx|js|mjs|jsx|json)$/.test(name) || name.startsWith("/")) {
    panes.setStatus(
      `"${name}" is not a valid file name: a relative path ending in .ts .tsx .js .mjs .jsx or .json`,
      "failed",
    );
    return;
  }
  if (editor.fileNames().includes(name)) return editor.show(name);
  editor.add(name, `export const value = 1;\n`);
});
$("remove-file").addEventListener("click", () => {
  const name = editor.activeFile();
  if (confirm(`Remove ${name}?`)) editor.remove(name);
});

function selectExample(id: string): void {
  if (current)
    edited.set(current.id, { files: editor.files(), options: optionsInput.value, mode: modeSelect.value as RunMode });
  current = EXAMPLES.find((example) => example.id === id) ?? EXAMPLES[0]!;
  exampleSelect.value = current.id;
  stored.set(STORE.example, current.id);
  const saved = edited.get(current.id);
  editor.load(saved?.files ?? current.files);
  optionsInput.value = saved?.options ?? JSON.stringify(current.options, null, 2);
  modeSelect.value = saved?.mode ?? current.mode;
  note.textContent = current.note;
  previewPane.hidden = true;
  panes.clear("—");
  editor.markError(null);
  panes.setStatus(`${current.title}: press Run (Ctrl/Cmd+Enter).`, "idle");
}

function readOptions(): Record<string, unknown> {
  const text = optionsInput.value.trim();
  if (!text) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RequestFailure(0, "invalid_options", `Request options are not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new RequestFailure(0, "invalid_options", "Request options must be a JSON object");
  return value as Record<string, unknown>;
}

/** `code` for a lone index.ts (named index.ts in stacks), `files` otherwise. */
function source(): { code: string } | { files: Record<string, string> } {
  const files = editor.files();
  const names = Object.keys(files);
  return names.length === 1 && names[0] === "index.ts" ? { code: files["index.ts"]! } : { files };
}

async function run(): Promise<void> {
  if (running) return;
  running = true;
  runButton.disabled = true;
  runButton.setAttribute("aria-busy", "true");
  panes.clear();
  editor.markError(null);
  panes.setStatus("Running…", "running");
  revealStatus();
  const started = performance.now();
  try {
    const options = readOptions();
    if (modeSelect.value === "sandbox") await runSandbox(options, started);
    else await runExecute(options, started);
  } catch (error) {
    showFailure(error);
  } finally {
    running = false;
    runButton.disabled = false;
    runButton.removeAttribute("aria-busy");
    // In a frame of its own: CodeMirror scrolls to a marked error line in its next measure frame,
    // which would otherwise take the view back up to the editor.
    requestAnimationFrame(revealStatus);
  }
}

/**
 * In the one-column layout the output sits below the editor: bring the status, and what the run
 * shows under it, to the top of the view. Called when a run starts and again when it ends, since
 * the page is too short to scroll that far while the output is still empty.
 */
function revealStatus(): void {
  const { top } = $("status").getBoundingClientRect();
  if (matchMedia(ONE_COLUMN).matches && (top < 0 || top > innerHeight * 0.4))
    $("status").scrollIntoView({ block: "start" });
}

async function runExecute(options: Record<string, unknown>, started: number): Promise<void> {
  const response: ExecuteResponse = await api.execute({ ...options, ...source() });
  const roundTripMs = performance.now() - started;
  panes.setLogs(response.logs, response.logsTruncated);
  panes.setEgress(response.egress);
  panes.setTiming(response.timing, { roundTripMs });
  if (response.ok) {
    panes.setResult(response.result);
    panes.setStatus(
      `ok in ${response.timing.totalMs.toFixed(1)} ms${response.timing.cached ? " (cached bundle)" : ""}`,
      "ok",
    );
    await showImages(response.result, namespaceOf(options));
    return;
  }
  const mark = locate(response.error, editor.fileNames());
  panes.setResult(undefined);
  panes.setError({ ...response.error, mark });
  editor.markError(mark);
  panes.setStatus(`failed: ${response.error.type} (${response.error.name})`, "failed");
}

async function runSandbox(options: Record<string, unknown>, started: number): Promise<void> {
  const info: SandboxInfo = await api.saveSandbox(stored.get(STORE.sandbox), { ...options, ...source() });
  const saveMs = performance.now() - started;
  stored.set(STORE.sandbox, info.id);
  panes.setResult(info);
  const previewMs = await loadPreview(info.id);
  panes.setTiming(null, { saveMs, previewMs, roundTripMs: performance.now() - started });
  if (previewPane.dataset.failed !== "true")
    panes.setStatus(`sandbox ${info.id} saved (version ${info.version}) and previewed`, "ok");
}

/** Fetches one page of the sandbox with the key and shows it in the sandboxed frame. */
async function loadPreview(id: string): Promise<number> {
  const started = performance.now();
  const path = `/${previewPath.value.trim().replace(/^\/+/, "")}`;
  previewPane.hidden = false;
  previewBase.textContent = `/sandboxes/${id}/http`;
  previewBase.title = previewBase.textContent; // the label is cut with an ellipsis on a narrow screen
  const page = await api.sandboxHttp(id, path);
  previewStatus.textContent = `GET ${path} → ${page.status} ${page.contentType || "(no content type)"}`;
  previewPane.dataset.failed = String(page.status >= 500);
  if (page.status >= 500) {
    // The sandbox threw: `{ error: { type, name, message, stack } }`, located like a run's error.
    try {
      const { error } = JSON.parse(page.body) as {
        error: { type: string; name: string; message: string; stack?: string };
      };
      const mark = locate(error, editor.fileNames());
      panes.setError({ ...error, mark });
      editor.markError(mark);
      panes.setStatus(`sandbox failed: ${error.type} (${error.name})`, "failed");
    } catch {
      // not a loader error body: the frame shows the text
    }
  }
  await showInFrame(previewFrame, page.body, page.contentType);
  return performance.now() - started;
}

const namespaceOf = (options: Record<string, unknown>): string => {
  const storage = options.storage as { namespace?: unknown } | undefined;
  return typeof storage?.namespace === "string" ? storage.namespace : "default";
};

/** Image files the result names (e.g. `chart: "charts/pi.svg"`), fetched from /files with the key. */
async function showImages(result: unknown, namespace: string): Promise<void> {
  const keys = new Set<string>();
  const visit = (value: unknown, depth: number) => {
    if (typeof value === "string" && IMAGE_KEY.test(value)) keys.add(value.replace(/^\/+/, ""));
    else if (value && typeof value === "object" && depth < 3)
      for (const child of Object.values(value)) visit(child, depth + 1);
  };
  visit(result, 0);
  for (const key of [...keys].slice(0, MAX_IMAGES)) {
    try {
      panes.addImage(key, await api.file(namespace, key));
    } catch (error) {
      panes.addImageError(key, (error as Error).message);
    }
  }
}

function showFailure(error: unknown): void {
  if (error instanceof RequestFailure) {
    const hint = error.status === 401 ? `\nCheck the API key (local development: ${DEV_KEY}).` : "";
    const issues = (error.issues ?? [])
      .map((issue) => `${issue.path.join(".") || "(body)"}: ${issue.message}`)
      .join("\n");
    panes.setError({
      type: error.type,
      name: error.status ? `HTTP ${error.status}` : "Options",
      message: error.message + hint,
      stack: issues,
    });
    panes.setStatus(error.status ? `request refused: ${error.type} (HTTP ${error.status})` : error.message, "failed");
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  panes.setError({
    type: "network",
    name: error instanceof Error ? error.name : "Error",
    message: `Could not reach the loader: ${message}`,
  });
  panes.setStatus("the loader did not answer", "failed");
}

selectExample(stored.get(STORE.example) ?? EXAMPLES[0]!.id);
document.body.dataset.ready = "true";
