"""Runs one Python program inside a Pyodide child (loaded once per child by python-child.child.js).

Each run gets its own directory, its own `__main__` globals and its own user modules, all removed
when it ends, so nothing of one run is visible to the next. CPU is metered with sys.monitoring:
every function start and every jump (each loop iteration, comprehensions included) counts down a
batch; each spent batch is charged to the run by the harness's refuel hook, which raises once the
run's budget (limits.cpuMs) is spent. The run reports a JSON object, never raises.
"""

import ast
import builtins
import contextvars
import datetime
import inspect
import json
import math
import os
import re
import shutil
import sys
import time
import traceback
import warnings

from pyodide.ffi import JsException, JsProxy, jsnull

ROOT = "/home/pyodide/dwl"
# The package a run's files form (see run()).
PACKAGE = "dwl_program"


class CpuLimitExceeded(BaseException):
    """Raised at a fuel check once the run's CPU budget is spent (BaseException: `except Exception` does not swallow it)."""


# What a task charges its monitored events to (_Meter.charge): nothing, while the runner works
# for a run (setting up, cleaning up, reporting).
_UNCHARGED = object()


class _Meter:
    """Counts monitored events and charges the harness once per batch.

    Whom a batch is charged to is per asyncio task (each run is one): a run's program to that run's
    refuel hook; the runner's own work around it to nobody, so a spent budget cannot cut the
    runner's clean-up short (CpuLimitExceeded escaped to Pyodide, whose report of it, cut short in
    turn inside linecache, left a NotADirectoryError as the exception being handled in every later
    run); Python that JS calls outside any run's task (a callback a program handed to JS) to the
    program that started last and has not stopped. A run cut off while it awaited (answered at its
    deadline, it may never resume) never stops: one refuel for the whole child kept it in force.
    """

    def __init__(self, events_per_batch):
        self.events_per_batch = events_per_batch
        self.left = events_per_batch
        # A run's refuel hook in the task running its program; _UNCHARGED in the runner's own work.
        self.refuel = contextvars.ContextVar("dwl_refuel", default=None)
        # (token, refuel) of the program started last and not stopped: what other Python pays.
        self.holder = None
        # Programs started and not stopped: events stay on while any (a cut-off run's, which may
        # resume, included) can still run code.
        self.active = 0
        self.monitoring = sys.monitoring
        self.tool = self.monitoring.OPTIMIZER_ID
        self.monitoring.use_tool_id(self.tool, "dwl-meter")
        tick = self.tick
        self.monitoring.register_callback(self.tool, self.monitoring.events.PY_START, tick)
        self.monitoring.register_callback(self.tool, self.monitoring.events.JUMP, tick)

    def tick(self, *_):
        self.left -= 1
        if self.left > 0:
            return
        self.left = self.events_per_batch
        self.charge()

    def charge(self):
        """Charges one batch (see the class); raises once that run's budget (or its deadline) is spent."""
        refuel = self.refuel.get()
        if refuel is None and self.holder is not None:
            refuel = self.holder[1]
        if refuel is None or refuel is _UNCHARGED:
            return
        try:
            refuel()
        except JsException:
            raise CpuLimitExceeded("CPU limit reached") from None

    def uncharged(self):
        """The runner works for this task's run: what it runs is charged to nobody."""
        self.refuel.set(_UNCHARGED)

    def start(self, refuel):
        """Charges this task's Python to `refuel` until `stop(token)`; answers the token."""
        token = object()
        self.refuel.set(refuel)
        self.holder = (token, refuel)
        if self.active == 0:
            events = self.monitoring.events
            self.monitoring.set_events(self.tool, events.PY_START | events.JUMP)
        self.active += 1
        return token

    def stop(self, token):
        self.refuel.set(_UNCHARGED)
        if self.holder is not None and self.holder[0] is token:
            self.holder = None
        self.active -= 1
        if self.active == 0:
            self.monitoring.set_events(self.tool, 0)


_meter = None
_runs = 0


# Imported at boot: their first import costs up to ~130 ms of CPU (statistics, pyodide.http;
# urllib.request with http.client and email ~110 ms, email.mime.text ~110 ms in Node, 150-220 ms
# in a child), which a run would otherwise pay out of its CPU budget (50 ms by default): the same
# program failed with cpu_limit in a new child and passed once an earlier run had imported them.
# In the snapshot they cost ~0.9 MB of its gzip (7.0 → 7.8 MB), nothing of its 31.5 MB heap.
PRELOADED = ["statistics", "pyodide.http", "csv", "hashlib", "datetime", "uuid", "zoneinfo", "heapq", "bisect", "copy", "enum", "pprint", "html", "urllib.parse", "xml.etree.ElementTree", "urllib.request", "http.client", "email.mime.text", "email.mime.multipart"]


_blocking_sleep = time.sleep


def _metered_sleep(seconds):
    """time.sleep as a run may use it: charged to its CPU meter slice by slice.

    Pyodide's time.sleep holds the thread (locally, every isolate's) and runs no monitored event,
    so a long one stalled every tenant until the runtime's watchdog restarted it. Slept in short
    slices with a charge after each, it ends the run as cpu_limit (or timeout) once the run's
    budget is spent, and says what to use instead.
    """
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    end = time.monotonic() + seconds
    try:
        while (left := end - time.monotonic()) > 0:
            _blocking_sleep(min(left, 0.005))
            _meter.charge()
    except CpuLimitExceeded:
        print(
            f"time.sleep({seconds:g}) holds the CPU while it waits and went past limits.cpuMs: "
            f"wait with `await asyncio.sleep({seconds:g})` (in an async def main, or at the top level)",
            file=sys.stderr,
        )
        raise


def preload():
    """Imports PRELOADED (before the memory snapshot is made, so children start with them)."""
    for name in PRELOADED:
        __import__(name)


def setup(events_per_batch):
    """Called once per child. Hides sys.monitoring so a program cannot switch its meter off by accident."""
    global _meter
    # The memory snapshot holds the random generator's state: without a fresh seed every child
    # would draw the same numbers.
    import random

    random.seed()
    _meter = _Meter(events_per_batch)
    time.sleep = _metered_sleep
    _refuse_sockets()
    del sys.monitoring


_NO_SOCKETS = (
    "Python sockets (urllib, http.client, requests) cannot reach the network here: use"
    " `from pyodide.http import pyfetch` and `await pyfetch(url)`, to a host in egress.allow"
)


def _refuse_sockets():
    """Sockets would go out as a WebSocket the gateway refuses, after a long wait: say what works instead."""
    import socket

    def refuse(*args, **kwargs):
        raise OSError(_NO_SOCKETS)

    socket.create_connection = refuse
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse


def _relative(path, root):
    return path[len(root) + 1 :] if path.startswith(root + "/") else path


# The name this file was compiled under (pyodide-boot.child.js), which its frames carry.
RUNNER_FILENAME = sys._getframe().f_code.co_filename
# Where a run's files live: `ROOT/r<n>/dwl_program/<path>`; a program sees only `<path>`.
_RUN_FILE = re.compile(re.escape(ROOT) + r"/r\d+/" + re.escape(PACKAGE) + "/")
_format_warning = warnings.formatwarning


def _warning_text(message, category, filename, lineno, line=None):
    """A warning as Python prints it, at the program's own path; one about the runner's own frame
    (a coroutine that asyncio.run never awaited, before it failed) says nothing the program can use."""
    if filename == RUNNER_FILENAME:
        return ""
    return _format_warning(message, category, _RUN_FILE.sub("", filename), lineno, line)


warnings.formatwarning = _warning_text
# The shell that built the interpreter's snapshot left its own path here.
os.environ.pop("_", None)
os.environ.pop("OLDPWD", None)

# JS errors the harness classifies itself (egress_denied); they go back to it as they are.
_HARNESS_ERRORS = ("EgressDeniedError",)


def _trim_to_user_files(report, root, seen):
    """Keeps only the frames in the program's own files, in this exception and every one it chains to."""
    if report is None or id(report) in seen:
        return
    seen.add(id(report))
    frames = [frame for frame in report.stack if frame.filename.startswith(root + "/")]
    for frame in frames:
        frame.filename = _relative(frame.filename, root)
    report.stack = traceback.StackSummary.from_list(frames)
    for chained in (report.__cause__, report.__context__, *(getattr(report, "exceptions", None) or ())):
        _trim_to_user_files(chained, root, seen)


# What Pyodide says when a program blocks on a coroutine (asyncio.run, run_until_complete).
_BLOCKING_WAIT = "stack switching not supported"


def _failure(kind, err, root):
    name = type(err).__name__
    try:
        message = str(err)
    except Exception:
        # As Python's own traceback says it; the program's error, not the runner's.
        message = "<exception str() failed>"
    if isinstance(err, RuntimeError) and _BLOCKING_WAIT in message:
        message = (
            "asyncio.run() and other blocking waits on a coroutine cannot run here: the program runs"
            " inside an event loop that the runtime owns. Use `await main()` at the top level, or"
            " define `async def main(input, env)` and let DWL call and await it"
        )
    elif isinstance(err, JsException) and getattr(err, "name", None) not in _HARNESS_ERRORS:
        # A JavaScript error from env (a bad KV key) or a tool: its own name, not JsException.
        js_name, js_message = getattr(err, "name", None), getattr(err, "message", None)
        if isinstance(js_name, str) and js_name and isinstance(js_message, str):
            name, message = js_name, js_message
    # The whole chain (`raise … from err`, an exception while handling another, groups), as
    # Python prints it: the cause is often what says what went wrong.
    report_tb = traceback.TracebackException.from_exception(err)
    _trim_to_user_files(report_tb, root, set())
    stack = "".join(report_tb.format()).replace(root + "/", "")
    report = {"ok": False, "kind": kind, "name": name, "message": message, "stack": stack}
    cause, seen = err, set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, JsException) and getattr(cause, "name", None) in _HARNESS_ERRORS:
            report["jsError"] = cause
            break
        cause = cause.__cause__ or cause.__context__
    return report


def _compile_failure(err, root):
    path = _relative(err.filename or "", root)
    # SyntaxError.offset is already 1-based, in characters, as `location.column` is.
    location = {"file": path, "line": err.lineno or 1, "column": max(1, err.offset or 1)}
    if err.text:
        location["lineText"] = err.text.rstrip("\r\n")
    message = f"{path}:{err.lineno}:{err.offset}: {err.msg}"
    return {"ok": False, "kind": "compile", "name": type(err).__name__, "message": message, "location": location}


class ResultError(ValueError):
    """The result cannot be encoded as JSON (named as a JS program's result error is)."""


def _jsonable(value, depth=0, path=None):
    """The result as JSON data: tuples and sets become lists, NaN and infinities null, dates and
    times ISO strings, Decimals their digits, other objects their repr.

    None becomes `jsnull`, which toJs hands over as null (a bare None would be undefined, and a key
    holding it would vanish from the JSON). A JS value the program got from JS (a FILES object, a
    Date) goes back as it is, for the harness to encode as it encodes a JS program's result.
    """
    if depth > 200:
        raise ResultError("the result cannot be serialised to JSON: it is nested more than 200 levels deep")
    if value is None or value is jsnull:
        return jsnull
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else jsnull
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        # The containers on the way here: meeting one again is a cycle, not depth.
        path = path or set()
        if id(value) in path:
            raise ResultError("the result cannot be serialised to JSON: it contains a circular reference")
        path.add(id(value))
        try:
            if isinstance(value, dict):
                return {str(k): _jsonable(v, depth + 1, path) for k, v in value.items()}
            return [_jsonable(v, depth + 1, path) for v in value]
        finally:
            path.discard(id(value))
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    if isinstance(value, JsProxy):
        return value
    # As a JS program's Date is: ISO 8601. A Decimal keeps its digits as text (a float would round).
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if type(value).__name__ == "Decimal" and type(value).__module__ in ("decimal", "_decimal", "_pydecimal"):
        return str(value)
    return repr(value)


class Record(dict):
    """A JS object's data in Python: a dict (o["key"], json.dumps) whose keys read as attributes too (o.key), as in JS.

    A key wins over a dict method of the same name: a KV list answer's `page.keys` is its keys, as
    in JS (it was the bound method `dict.keys`, "not iterable"); `page["keys"]` reads the same."""

    def __getattribute__(self, name):
        if not name.startswith("__") and dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        return dict.__getattribute__(self, name)

    def __getattr__(self, name):
        raise AttributeError(
            f"{name!r}: this answer has no such key (it has {', '.join(map(repr, dict.keys(self))) or 'none'})"
        )


def py_data(value):
    """Plain data from env (converted by toPy): its dicts, at any depth, as Records."""
    if isinstance(value, dict):
        return Record({k: py_data(v) for k, v in value.items()})
    if isinstance(value, list):
        return [py_data(v) for v in value]
    return value


def js_data(value):
    """Python data handed to a JS method (env.KV, a tool): None inside dicts and lists as null, not undefined."""
    if value is None:
        return jsnull
    if isinstance(value, dict):
        return {k: js_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [js_data(v) for v in value]
    return value


def _write_files(root, files):
    for path, source in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as handle:
            handle.write(source)


def _forget_programs():
    """Every run's files out of sys.modules and sys.path: also those of a run that never got to
    its own clean-up (answered at its deadline while it awaited, it may never resume)."""
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None) or ""
        if path.startswith(ROOT + "/") or name == PACKAGE or name.startswith(PACKAGE + "."):
            del sys.modules[name]
    sys.path[:] = [entry for entry in sys.path if not entry.startswith(ROOT + "/")]


async def _settle(value):
    return await value if inspect.isawaitable(value) else value


def _call_main(main, program_input, env):
    try:
        parameters = inspect.signature(main).parameters.values()
        positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        takes_all = any(p.kind == p.VAR_POSITIONAL for p in parameters)
        count = 2 if takes_all else min(2, len(positional))
    except (TypeError, ValueError):
        count = 2
    return main(*(program_input, env)[:count])


def _defines_main(tree):
    return any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "main" for node in tree.body
    )


def _is_main_guard(node):
    """`if __name__ == "__main__":`, either way round."""
    test = node.test if isinstance(node, ast.If) else None
    if not isinstance(test, ast.Compare) or len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, *test.comparators]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    mains = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(mains) == 1


def _calls_main(tree):
    """Whether the module's own top-level code calls `main` (not code inside its functions or classes)."""
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "main":
            return True
        pending.extend(ast.iter_child_nodes(node))
    return False


def check(files_json, entry):
    """Compiles the program's files and runs nothing: {"ok": true} or the first compile failure.

    The entry as `run` compiles it (top-level await allowed), every other file as its import
    would (`return` or `break` at module level fail there too).
    """
    root = f"{ROOT}/check/{PACKAGE}"
    for path, source in json.loads(files_json).items():
        if not path.endswith(".py"):
            continue
        filename = os.path.join(root, path)
        try:
            tree = ast.parse(source, filename=filename)
            compile(tree, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if path == entry else 0)
        except SyntaxError as err:
            # Some (a NUL byte in the source) carry no file or line: they are still this file's.
            err.filename = err.filename or filename
            err.lineno = err.lineno or 1
            err.offset = err.offset or 1
            return _compile_failure(err, root)
    return {"ok": True, "result": None}


_CPU_LIMIT = {"ok": False, "kind": "cpu_limit", "name": "CpuLimitError", "message": "CPU limit reached"}


def _reported(err, root):
    """The report of a run that raised `err`, made while the run's meter still runs: the result's
    __repr__, an exception's __str__ and a SystemExit's code are the program's code, which ran
    uncharged after the program and held the thread for as long as it looped."""
    try:
        if isinstance(err, CpuLimitExceeded):
            return dict(_CPU_LIMIT)
        if isinstance(err, MemoryError):
            return _failure("memory_limit", err, root)
        # sys.exit() / exit() with 0 or None ends a script successfully, as it does in CPython.
        if isinstance(err, SystemExit) and (err.code is None or err.code == 0):
            return {"ok": True, "result": None}
        return _failure("runtime", err, root)
    except CpuLimitExceeded:
        return dict(_CPU_LIMIT)


async def run(files_json, entry, input_json, env, refuel):
    """Runs `entry` of the program's files; answers {"ok": true, "result"} or {"ok": false, "kind", ...}."""
    global _runs
    _runs += 1
    _meter.uncharged()
    # The files live in a package, so relative imports (`from .util import f`) work beside plain
    # ones (`import util`, from the program's own folder, first on sys.path). The entry's own
    # folder comes before it, as CPython puts a script's: `src/app.py` imports `src/m.py` as `m`.
    base = f"{ROOT}/r{_runs}"
    root = f"{base}/{PACKAGE}"
    files = json.loads(files_json)
    _forget_programs()
    _write_files(root, files)
    entry_folder = os.path.dirname(os.path.join(root, entry))
    sys.path[:0] = [entry_folder, root, base] if entry_folder != root else [root, base]
    os.chdir(root)
    metered = None
    try:
        trees = {}
        for path, source in files.items():
            if path.endswith(".py"):
                try:
                    trees[path] = ast.parse(source, filename=os.path.join(root, path))
                except SyntaxError as err:
                    return _compile_failure(err, root)
        tree = trees[entry]
        # main(input, env) is called once, by the runner: a program that defines it and guards a
        # call of its own with `if __name__ == "__main__":` (as scripts do) runs as an imported
        # module, so the guard is skipped; one that calls main itself otherwise is not called again.
        guarded = _defines_main(tree) and any(_is_main_guard(node) for node in tree.body)
        call_main = guarded or not _calls_main(tree)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        entry_path = os.path.join(root, entry)
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        try:
            body = compile(tree, entry_path, "exec", flags=flags)
            tail = compile(last, entry_path, "eval", flags=flags) if last is not None else None
        except SyntaxError as err:
            return _compile_failure(err, root)
        package = ".".join([PACKAGE, *os.path.dirname(entry).split("/")]).rstrip(".")
        name = f"{package}.{os.path.splitext(os.path.basename(entry))[0]}" if guarded else "__main__"
        program_input = json.loads(input_json)
        # A script sees the run's `input` and `env` as globals, as a JS function body does (main
        # gets them as arguments); `input` shadows the builtin, which cannot read anything here.
        scope = {
            "__name__": name,
            "__file__": entry_path,
            "__package__": package,
            "__builtins__": builtins,
            "input": program_input,
            "env": env,
        }
        metered = _meter.start(refuel)
        await _settle(eval(body, scope))
        result = await _settle(eval(tail, scope)) if tail is not None else None
        main = scope.get("main")
        if call_main and callable(main) and getattr(main, "__module__", None) == name:
            result = await _settle(_call_main(main, program_input, env))
        return {"ok": True, "result": _jsonable(result)}
    except BaseException as err:
        return _reported(err, root)
    finally:
        if metered is not None:
            _meter.stop(metered)
        # A last line without a newline is still buffered (by Python, then by Pyodide's line
        # writer, which only fsync empties): it belongs to this run's logs, not the next run's.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
                os.fsync(stream.fileno())
            except Exception:
                pass
        os.chdir(ROOT)
        _forget_programs()
        shutil.rmtree(base, ignore_errors=True)
