"""The program that runs a whole note in one sandboxed interpreter (issue #17).

It is sent to the sandbox as one ordinary Python job: the plan (each block's code and,
per top-level statement, the names it reads and writes and whether its value is
wanted) is embedded as a literal. Statements run in order in one shared namespace, as
the note's author ran them. Each block has a CPU-time budget (a busy machine must not
fail a block that is merely slow) and a wall-clock one; a statement that raises is
reported and what it would have defined is poisoned, so later statements that use
those names are skipped rather than run on stale state. One JSON event per statement
goes to stdout behind a per-run marker, flushed as it happens: if the note's overall
bound kills the run, every event before it still counts.
"""

from __future__ import annotations

import json

DRIVER = r'''
import ast as _ast, io as _io, json as _json, signal as _signal, sys as _sys, types as _types
_PLAN = _json.loads(%(plan)s)
_MARK = _PLAN["marker"]
_OUT = _sys.stdout
_CAP = _PLAN["cap"]


class _BlockTimeout(BaseException):
    pass


def _on_timer(signum, frame):
    raise _BlockTimeout()


def _emit(event):
    _OUT.write("\n" + _MARK + _json.dumps(event) + "\n")
    _OUT.flush()


def _repr(value):
    try:
        text = repr(value)
    except Exception as exc:
        return "<repr failed: %%s>" %% type(exc).__name__
    return text[:_CAP]


def _plain(value):
    return isinstance(value, (_types.ModuleType, type, _types.FunctionType,
                              _types.BuiltinFunctionType))


_signal.signal(_signal.SIGPROF, _on_timer)
_signal.signal(_signal.SIGALRM, _on_timer)
_user = _types.ModuleType("__main__")
_user.__dict__["__builtins__"] = __builtins__
_sys.modules["__main__"] = _user
_ns = _user.__dict__
_poisoned = {}
for _block in _PLAN["blocks"]:
    _name = "<note block %%d>" %% _block["index"]
    _tree = _ast.parse(_block["code"], _name)
    _timed_out = None
    _signal.setitimer(_signal.ITIMER_PROF, _PLAN["cpu_s"], 1.0)
    _signal.setitimer(_signal.ITIMER_REAL, _PLAN["wall_s"], 1.0)
    try:
        for _k, _stmt in enumerate(_tree.body):
            _meta = _block["stmts"][_k]
            _event = {"b": _block["index"], "s": _k, "line": _stmt.lineno}
            _hit = [n for n in _meta["loads"] if n in _poisoned]
            if _timed_out is not None or _hit:
                _cause = _timed_out if _timed_out is not None else _poisoned[_hit[0]]
                _event.update(status="skipped", name=_hit[0] if _hit else None, cause=_cause)
                for _n in _meta["stores"] + _meta["receivers"]:
                    _poisoned.setdefault(_n, _cause)
                _emit(_event)
                continue
            _buf = _io.StringIO()
            _sys.stdout, _sys.stderr = _buf, _io.StringIO()
            _failed = None
            try:
                if _meta["eval"]:
                    _value = eval(compile(_ast.Expression(_stmt.value), _name, "eval"), _ns)
                    if _value is not None:
                        _event["repr"] = _repr(_value)
                    _value = None
                else:
                    exec(compile(_ast.Module([_stmt], []), _name, "exec"), _ns)
                _event["status"] = "ok"
            except _BlockTimeout:
                _failed = {"exc_type": "timeout", "message": ""}
            except BaseException as _exc:  # the note's own exceptions, SystemExit too
                _failed = {"exc_type": type(_exc).__name__,
                           "message": str(_exc)[:500] if not isinstance(_exc, SystemExit)
                           else "exit(%%r)" %% (_exc.code,),
                           "module": getattr(_exc, "name", None)
                           if isinstance(_exc, ImportError) else None}
            finally:
                _sys.stdout, _sys.stderr = _OUT, _sys.__stderr__
            _event["out"] = _buf.getvalue()[:_CAP]
            if _failed is not None:
                _failed.update(b=_block["index"], s=_k, line=_stmt.lineno)
                _event.update(status="error", **_failed)
                for _n in _meta["stores"]:
                    _poisoned.setdefault(_n, _failed)
                for _n in _meta["receivers"]:
                    if not _plain(_ns.get(_n)):
                        _poisoned.setdefault(_n, _failed)
                if _failed["exc_type"] == "timeout":
                    _timed_out = _failed
            _emit(_event)
    except _BlockTimeout:
        pass
    finally:
        _signal.setitimer(_signal.ITIMER_PROF, 0)
        _signal.setitimer(_signal.ITIMER_REAL, 0)
_emit({"done": True})
'''


def driver_code(plan: dict[str, object]) -> str:
    """The driver with `plan` embedded (a Python string literal of its JSON)."""
    return DRIVER % {"plan": repr(json.dumps(plan, ensure_ascii=True))}
