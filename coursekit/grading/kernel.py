"""Running notebook cells and recording what they show: the :class:`Kernel` both sides use.

:class:`Kernel` is an IPython shell that runs a cell and records what it shows as notebook
outputs (streams, displays, the result, the error), with the text capped per cell. Both sides
use it: the grader runs the trusted cells in one, the student's process (student.py) runs the
student's cells in another.
"""
from __future__ import annotations

import ast
import functools
import io
import os
import sys

MAX_OUTPUT = 100_000   # characters of text a cell may show
MAX_DISPLAYS = 20      # figures and other displays a cell may show
MAX_DISPLAY_BYTES = 4 * 2**20
SAFE_MIMETYPES = ("text/plain", "image/png", "image/jpeg")  # never HTML or JavaScript from a student


# ---------------------------------------------------------------- recording a cell's outputs

class Recorder:
    """The outputs of one cell as nbformat dicts, text capped at ``max_chars``."""

    def __init__(self, max_chars: int = MAX_OUTPUT, max_displays: int = MAX_DISPLAYS):
        self.max_chars, self.max_displays = max_chars, max_displays
        self.outputs: list[dict] = []
        self.chars = self.dropped_chars = self.displays = self.dropped_displays = 0

    def stream(self, name: str, text: str) -> None:
        keep = text[:max(0, self.max_chars - self.chars)]
        self.chars += len(keep)
        self.dropped_chars += len(text) - len(keep)
        if not keep:
            return
        last = self.outputs[-1] if self.outputs else None
        if last and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += keep
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": keep})

    def display(self, output_type: str, data: dict, metadata: dict | None = None, count=None) -> None:
        data = clean_mimebundle(data)
        if not data:
            return
        if self.displays >= self.max_displays:
            self.dropped_displays += 1
            return
        self.displays += 1
        out = {"output_type": output_type, "data": data, "metadata": {}}
        if output_type == "execute_result":
            out["execution_count"] = count
        self.outputs.append(out)

    def error(self, ename: str, evalue: str, tb: list[str]) -> None:
        tb = [str(line)[:20_000] for line in tb][-50:]
        self.outputs.append({"output_type": "error", "ename": ename, "evalue": evalue[:20_000], "traceback": tb})

    def clear(self) -> None:
        self.outputs.clear()

    def finish(self) -> list[dict]:
        notes = []
        if self.dropped_chars:
            notes.append(f"{self.dropped_chars:,} more characters were printed (limit {self.max_chars:,} per cell)")
        if self.dropped_displays:
            notes.append(f"{self.dropped_displays} more figures or displays were shown "
                         f"(limit {self.max_displays} per cell)")
        if notes:
            self.outputs.append({"output_type": "stream", "name": "stdout",
                                 "text": f"\n[output cut by the grader: {'; '.join(notes)}]\n"})
        return self.outputs


def clean_mimebundle(data) -> dict:
    """Keep only plain text and PNG/JPEG images (base64 text), each under the size limit."""
    import base64
    out = {}
    if not isinstance(data, dict):
        return out
    for mime in SAFE_MIMETYPES:
        value = data.get(mime)
        if value is None:
            continue
        if isinstance(value, (bytes, bytearray)):
            value = base64.b64encode(value).decode() if mime != "text/plain" else value.decode(errors="replace")
        if isinstance(value, list):
            value = "".join(str(v) for v in value)
        if not isinstance(value, str) or len(value) > MAX_DISPLAY_BYTES:
            continue
        if mime != "text/plain":
            try:
                base64.b64decode(value, validate=True)
            except ValueError:
                continue
        out[mime] = value
    return out


class _Stream(io.TextIOBase):
    """sys.stdout / sys.stderr while a cell runs: text goes to the current recorder."""

    def __init__(self, kernel: "Kernel", name: str):
        self.kernel, self.name = kernel, name

    def write(self, text) -> int:
        text = str(text)
        self.kernel.recorder.stream(self.name, text)
        return len(text)

    def writable(self) -> bool:
        return True

    @property
    def encoding(self):
        return "utf-8"


@functools.lru_cache(maxsize=1)
def _make_shell_class():
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    class Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
            self.shell.kernel.recorder.display("display_data", data, metadata)

        def clear_output(self, wait=False):
            self.shell.kernel.recorder.clear()

    class Hook(DisplayHook):
        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            self.shell.kernel.recorder.display("execute_result", format_dict, md_dict, self.prompt_count)

        def finish_displayhook(self):
            pass

    class Shell(InteractiveShell):
        displayhook_class = Hook
        display_pub_class = Publisher
        kernel = None

        def showtraceback(self, *args, **kwargs):
            if os.getpid() != self.kernel.pid:  # a child the cell forked (a fork bomb's): leave, no traceback
                os._exit(0)
            return super().showtraceback(*args, **kwargs)

        def _showtraceback(self, etype, evalue, stb):
            self.kernel.recorder.error(etype.__name__, str(evalue), list(stb))

        def enable_gui(self, gui=None):
            pass

    return Shell


class Kernel:
    """An in-process IPython shell whose cells' outputs are recorded (see :class:`Recorder`)."""

    def __init__(self, max_output: int = MAX_OUTPUT, inline_figures: bool = False):
        from traitlets.config import Config

        config = Config()
        config.HistoryManager.enabled = False
        config.InteractiveShell.colors = "nocolor"
        self.max_output = max_output
        self.pid = os.getpid()
        self.recorder = Recorder(max_output)
        shell_class = _make_shell_class()
        shell_class.clear_instance()  # one kernel per process; a second one replaces the first
        self.shell = shell_class.instance(config=config)
        self.shell.kernel = self
        self.inline_figures = inline_figures
        if inline_figures:
            self.shell.enable_matplotlib("inline")

    @property
    def user_ns(self) -> dict:
        return self.shell.user_ns

    def start_recording(self) -> Recorder:
        self.recorder = Recorder(self.max_output)
        self._saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Stream(self, "stdout"), _Stream(self, "stderr")
        return self.recorder

    def stop_recording(self) -> list[dict]:
        sys.stdout, sys.stderr = self._saved
        return self.recorder.finish()

    def run_cell(self, source: str) -> tuple[list[dict], dict | None]:
        """Run one cell; return (its outputs, its error as {"ename", "evalue"} or None)."""
        recorder = self.start_recording()
        try:
            result = self.shell.run_cell(source, store_history=True)
        except KeyboardInterrupt:  # arrived outside the cell's own code (compiling, a hook)
            recorder.error("KeyboardInterrupt", "", [])
            result = None
        finally:
            outputs = self.stop_recording()
        if not self.inline_figures and "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")
        errors = [o for o in outputs if o["output_type"] == "error"]
        if errors:
            return outputs, {"ename": errors[-1]["ename"], "evalue": errors[-1]["evalue"]}
        if result is not None and not result.success:
            err = result.error_before_exec or result.error_in_exec
            return outputs, {"ename": type(err).__name__, "evalue": str(err)}
        return outputs, None


def context_statements(source: str) -> str:
    """The imports, function and class definitions at the top level of a cell (its context).

    The student's process runs these from the visible part of each test cell, so a name that a
    test cell imports or defines exists for the student's later code, as it did when they ran
    the notebook; nothing in it calls the student's code.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    keep = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return "\n".join(ast.get_source_segment(source, node) or "" for node in tree.body if isinstance(node, keep))
