/**
 * @module editor
 * The code editor: CodeMirror 6 with TypeScript highlighting, one EditorState per file behind
 * accessible tabs, and the error marker (a lint diagnostic plus a highlighted line) that points
 * at the line an error's location or stack names.
 */
import { javascript } from "@codemirror/lang-javascript";
import { lintGutter, setDiagnostics } from "@codemirror/lint";
import { EditorState, Prec, StateEffect, StateField, type Extension } from "@codemirror/state";
import { Decoration, EditorView, keymap, type DecorationSet } from "@codemirror/view";
import { basicSetup } from "codemirror";

/** Where an error points in the user's files (1-based line and column). */
export interface ErrorMark {
  file: string;
  line: number;
  column: number;
  message: string;
}

const setErrorLine = StateEffect.define<number | null>();

/** The highlighted error line; mapped through edits, cleared by the next run. */
const errorLine = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(lines, tr) {
    lines = lines.map(tr.changes);
    for (const effect of tr.effects) {
      if (!effect.is(setErrorLine)) continue;
      lines =
        effect.value === null
          ? Decoration.none
          : Decoration.set([errorLineDecoration.range(tr.state.doc.line(effect.value).from)]);
    }
    return lines;
  },
  provide: (field) => EditorView.decorations.from(field),
});
const errorLineDecoration = Decoration.line({ class: "cm-dwl-error-line", attributes: { "data-error-line": "true" } });

const theme = EditorView.theme({
  "&": { height: "100%", fontSize: "13.5px" },
  ".cm-scroller": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace", lineHeight: "1.5" },
  ".cm-dwl-error-line": { backgroundColor: "#fee2e2" },
  "&.cm-focused": { outline: "none" },
});

export interface FileEditorOptions {
  /** Ctrl/Cmd+Enter inside the editor. */
  onRun: () => void;
  /** CSP nonce for the <style> elements CodeMirror adds (see the page's Content-Security-Policy). */
  nonce: string;
  /** After the set of files changed (or the active one). */
  onFilesChange?: (count: number) => void;
}

export class FileEditor {
  private readonly view: EditorView;
  private readonly states = new Map<string, EditorState>();
  private active = "index.ts";
  private readonly extensions: Extension[];
  private readonly onFilesChange: (count: number) => void;

  constructor(
    parent: HTMLElement,
    private readonly tabs: HTMLElement,
    options: FileEditorOptions,
  ) {
    this.onFilesChange = options.onFilesChange ?? (() => {});
    this.extensions = [
      Prec.highest(keymap.of([{ key: "Mod-Enter", run: () => (options.onRun(), true) }])),
      basicSetup,
      javascript({ typescript: true }),
      lintGutter(),
      EditorView.lineWrapping,
      errorLine,
      theme,
      EditorView.cspNonce.of(options.nonce),
    ];
    this.view = new EditorView({ parent, state: this.stateFor("index.ts", "") });
    this.tabs.addEventListener("keydown", (event) => this.onTabKey(event));
  }

  private stateFor(file: string, source: string): EditorState {
    return EditorState.create({
      doc: source,
      extensions: [...this.extensions, EditorView.contentAttributes.of({ "aria-label": `Source of ${file}` })],
    });
  }

  /** Replaces every file; the first one (index.ts first) is shown. */
  load(files: Record<string, string>): void {
    this.states.clear();
    for (const [name, source] of Object.entries(files)) this.states.set(name, this.stateFor(name, source));
    this.show(this.states.has("index.ts") ? "index.ts" : (this.states.keys().next().value ?? "index.ts"));
  }

  /** Every file's current source. */
  files(): Record<string, string> {
    this.states.set(this.active, this.view.state);
    return Object.fromEntries([...this.states].map(([name, state]) => [name, state.doc.toString()]));
  }

  fileNames(): string[] {
    return [...this.states.keys()];
  }

  activeFile(): string {
    return this.active;
  }

  add(name: string, source: string): void {
    this.states.set(this.active, this.view.state);
    this.states.set(name, this.stateFor(name, source));
    this.show(name);
  }

  remove(name: string): void {
    if (this.states.size < 2 || !this.states.delete(name)) return;
    if (this.active === name) this.active = "";
    this.show(this.states.has("index.ts") ? "index.ts" : (this.states.keys().next().value ?? ""));
  }

  show(name: string): void {
    const state = this.states.get(name);
    if (!state) return;
    if (this.active && this.states.has(this.active)) this.states.set(this.active, this.view.state);
    this.active = name;
    this.view.setState(state);
    this.view.scrollDOM.scrollTo({ top: 0, left: 0 });
    this.renderTabs();
  }

  focus(): void {
    this.view.focus();
  }

  /** Marks one line of one file (switching to it), or clears every mark when `mark` is null. */
  markError(mark: ErrorMark | null): void {
    this.states.set(this.active, this.view.state);
    for (const [name, state] of this.states) {
      const cleared = state.update({ effects: [...effectsOf(setDiagnostics(state, [])), setErrorLine.of(null)] });
      this.states.set(name, cleared.state);
    }
    this.view.setState(this.states.get(this.active) ?? this.view.state);
    if (!mark || !this.states.has(mark.file)) return;
    this.show(mark.file);
    const doc = this.view.state.doc;
    const line = doc.line(Math.min(Math.max(mark.line, 1), doc.lines));
    const from = Math.min(line.from + Math.max(mark.column - 1, 0), line.to);
    const to = from < line.to ? line.to : Math.min(from + 1, doc.length);
    const diagnostics = setDiagnostics(this.view.state, [
      { from, to, severity: "error", message: mark.message, source: "run" },
    ]);
    this.view.dispatch({
      effects: [
        ...effectsOf(diagnostics),
        setErrorLine.of(line.number),
        EditorView.scrollIntoView(from, { y: "center" }),
      ],
      selection: { anchor: from },
    });
  }

  private renderTabs(): void {
    const buttons = [...this.states.keys()].map((name) => {
      const tab = document.createElement("button");
      tab.type = "button";
      tab.setAttribute("role", "tab");
      tab.id = `tab-${name.replace(/[^A-Za-z0-9_-]/g, "_")}`;
      tab.textContent = name;
      tab.dataset.file = name;
      tab.setAttribute("aria-selected", String(name === this.active));
      tab.setAttribute("aria-controls", this.view.dom.parentElement?.id ?? "");
      tab.tabIndex = name === this.active ? 0 : -1;
      tab.addEventListener("click", () => this.show(name));
      return tab;
    });
    this.tabs.replaceChildren(...buttons);
    this.onFilesChange(buttons.length);
    const current = buttons.find((b) => b.dataset.file === this.active);
    if (current) this.view.dom.parentElement?.setAttribute("aria-labelledby", current.id);
  }

  /** Arrow keys move between tabs (WAI-ARIA tabs pattern, automatic activation). */
  private onTabKey(event: KeyboardEvent): void {
    const names = [...this.states.keys()];
    const index = names.indexOf(this.active);
    const next =
      event.key === "ArrowRight"
        ? index + 1
        : event.key === "ArrowLeft"
          ? index - 1
          : event.key === "Home"
            ? 0
            : event.key === "End"
              ? names.length - 1
              : null;
    if (next === null) return;
    event.preventDefault();
    const name = names[(next + names.length) % names.length];
    if (name === undefined) return;
    this.show(name);
    (this.tabs.querySelector(`[data-file="${CSS.escape(name)}"]`) as HTMLElement | null)?.focus();
  }
}

function effectsOf(spec: { effects?: StateEffect<unknown> | readonly StateEffect<unknown>[] }): StateEffect<unknown>[] {
  const effects = spec.effects;
  return effects === undefined ? [] : Array.isArray(effects) ? [...effects] : [effects as StateEffect<unknown>];
}
