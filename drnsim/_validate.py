"""Argument checks shared by every public entry point.

Each check raises at the entry point, once, with a message that names the argument, the
value it got and the values it allows: `ValueError` for a value out of range,
`InvalidTypeError` (both a `TypeError` and a `ValueError`, so either ``except`` catches it) for
a value of the wrong type, and `TypeError` for an unknown keyword argument (Python's own
convention). Nothing is clipped or truncated silently: ``0.5`` is not a seed and ``True`` is not
a count. Numpy scalars are accepted wherever the Python type is (``np.int64(3)`` is an
integer, ``np.float32(0.1)`` a number).
"""

from __future__ import annotations

import contextlib
import inspect
import math
import numbers
import os
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

#: Seeds are stored as int64 (results, logs), so they lie in [0, 2**63).
SEED_LIMIT = 2**63

#: Environment variable that overrides the memory limit of `check_memory` (bytes, or with
#: a K/M/G/T suffix, e.g. ``64G``); ``0`` turns the check off.
MEMORY_LIMIT_VARIABLE = "DRNSIM_MAX_MEMORY"


class InvalidTypeError(TypeError, ValueError):
    """An argument of the wrong type (e.g. a string where a number belongs)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | _np_bool())


def _is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | _np_bool())


def _np_bool() -> type:
    import numpy as np

    return np.bool_


def number(name: str, value: Any, low: float = -math.inf, high: float = math.inf,
           low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float: a finite real number (not a bool) in the given range."""
    if not _is_number(value):
        raise InvalidTypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if not math.isfinite(value) or below or above:
        allowed = " ".join(["a finite number", _interval(low, high, low_open, high_open)])
        raise ValueError(f"{name} must be {allowed.strip()}, got {value!r}")
    return value


def _interval(low: float, high: float, low_open: bool, high_open: bool) -> str:
    if math.isinf(low) and math.isinf(high):
        return ""
    if math.isinf(high):
        return f"{'>' if low_open else '>='} {low:g}"
    if math.isinf(low):
        return f"{'<' if high_open else '<='} {high:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def positive(name: str, value: Any) -> float:
    """A finite number > 0."""
    return number(name, value, 0.0, low_open=True)


def non_negative(name: str, value: Any) -> float:
    """A finite number >= 0."""
    return number(name, value, 0.0)


def finite(name: str, value: Any) -> float:
    """Any finite number."""
    return number(name, value)


def probability(name: str, value: Any) -> float:
    """A number in [0, 1]."""
    return number(name, value, 0.0, 1.0)


def integer(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int: an integer (not a bool, not a float such as 0.5 or 1.0) in
    [low, high]."""
    if not _is_integer(value):
        raise InvalidTypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        allowed = (f">= {low}" if high is None else f"<= {high}" if low is None
                   else f"in [{low}, {high}]")
        raise ValueError(f"{name} must be an integer {allowed}, got {value!r}")
    return value


def int_at_least(name: str, value: Any, low: int) -> int:
    """An integer >= ``low``."""
    return integer(name, value, low)


def seed(name: str, value: Any) -> int:
    """A seed: an integer in [0, 2**63) (seeds are stored as int64)."""
    value = integer(name, value)
    if not 0 <= value < SEED_LIMIT:
        raise ValueError(f"{name} must be an integer in [0, 2**63), got {value!r}")
    return value


def seeds(name: str, values: Any) -> list[int]:
    """A non-empty sequence of distinct seeds (a single integer is one seed)."""
    if _is_integer(values):
        values = [values]
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise InvalidTypeError(f"{name} must be a sequence of integers in [0, 2**63), "
                               f"got {values!r}")
    out = [seed(f"{name}[{i}]", v) for i, v in enumerate(values)]
    if not out:
        raise ValueError(f"{name} must hold at least one seed, got {values!r}")
    repeated = sorted({s for s in out if out.count(s) > 1})
    if repeated:
        raise ValueError(f"{name} must be distinct, {repeated} repeated in {out}")
    return out


def one_of(name: str, value: Any, allowed: Sequence[Any]) -> Any:
    """``value`` if it equals one of ``allowed`` (and has its type: ``1`` is not ``True``)."""
    if not any(type(value) is type(a) and value == a for a in allowed):
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; "
                         f"got {value!r}")
    return value


def boolean(name: str, value: Any) -> bool:
    """True or False (not 0/1, not a string)."""
    if not isinstance(value, bool | _np_bool()):
        raise InvalidTypeError(f"{name} must be True or False, got {value!r} "
                               f"({type(value).__name__})")
    return bool(value)


# ---------------------------------------------------------------------------------------
# Keyword arguments of constructors: unknown names and annotated types
def parameters(func: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """The keyword-capable parameters of ``func`` (a class: its ``__init__``), without
    ``self`` and without ``*args``/``**kwargs``."""
    signature = inspect.signature(func)
    return {name: p for name, p in signature.parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def takes_var_keywords(func: Callable[..., Any]) -> bool:
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(func).parameters.values())


def check_keywords(what: str, kwargs: Mapping[str, Any], *funcs: Callable[..., Any],
                   exclude: Iterable[str] = ()) -> None:
    """TypeError when a keyword of ``kwargs`` is taken by none of ``funcs`` (the
    constructors it may go to, e.g. an agent's and its model's) or has a value whose type
    does not match that parameter's annotation. Names in ``exclude`` are set by the
    caller, not the user, and so are not allowed."""
    for key in kwargs:
        if not isinstance(key, str):
            raise TypeError(f"{what}: keyword names must be strings, got {key!r}")
    allowed: dict[str, tuple[inspect.Parameter, Callable[..., Any]]] = {}
    for func in funcs:
        for name, param in parameters(func).items():
            allowed.setdefault(name, (param, func))
    for name in exclude:
        allowed.pop(name, None)
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise TypeError(f"{what} got unknown keyword argument(s) {unknown}; allowed: "
                        f"{sorted(allowed) or 'none'}")
    for name, value in kwargs.items():
        param, func = allowed[name]
        check_annotation(f"{what}: {name}", value, _hint(func, name))


def _hint(func: Callable[..., Any], name: str) -> Any:
    target = func.__init__ if inspect.isclass(func) else func
    try:
        return typing.get_type_hints(target).get(name, Any)
    except Exception:  # an annotation that does not resolve: nothing to check against
        return Any


def check_annotation(name: str, value: Any, hint: Any) -> None:
    """TypeError when ``value`` does not fit a simple annotation (int, float, bool, str,
    None, unions, tuple/list/dict of those); ValueError for a NaN or infinite float.
    Annotations it does not understand are not checked."""
    if not _fits(value, hint):
        raise InvalidTypeError(f"{name} must be {_describe(hint)}, got {value!r} "
                        f"({type(value).__name__})")
    if _is_number(value) and not _is_integer(value) and not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _fits(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(_fits(value, a) for a in args)
    if hint is type(None) or hint is None:
        return value is None
    if hint is bool:
        return isinstance(value, bool | _np_bool())
    if hint is int:
        return _is_integer(value)
    if hint is float:
        return _is_number(value)
    if hint is str:
        return isinstance(value, str)
    if origin in (tuple, list, Sequence) or hint in (tuple, list):
        if not isinstance(value, tuple | list):
            return False
        if not args:
            return True
        item = args[0] if origin is not tuple or (len(args) == 2 and args[1] is Ellipsis) \
            else None
        if item is None:  # fixed-length tuple
            return len(value) == len(args) and all(map(_fits, value, args))
        return all(_fits(v, item) for v in value)
    if origin in (dict, Mapping) or hint in (dict,):
        return isinstance(value, Mapping)
    return True  # an annotation this check does not model


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " or ".join(_describe(a) for a in args)
    names = {bool: "True or False", int: "an integer", float: "a number", str: "a string",
             type(None): "None", dict: "a mapping", list: "a list", tuple: "a tuple"}
    if hint in names:
        return names[hint]
    if origin in (tuple, list, Sequence) and args:
        return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin in (dict, Mapping):
        return "a mapping"
    return str(hint)


# ---------------------------------------------------------------------------------------
# Memory
def memory_limit() -> int | None:
    """Bytes a simulation may plan to use: ``DRNSIM_MAX_MEMORY`` when set, else the
    machine's physical memory (or the container's cgroup limit, if lower); None when
    unknown or turned off."""
    text = os.environ.get(MEMORY_LIMIT_VARIABLE, "").strip()
    if text:
        return parse_bytes(MEMORY_LIMIT_VARIABLE, text) or None
    limits = []
    with contextlib.suppress(AttributeError, ValueError, OSError):
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as handle:
                value = handle.read().strip()
        except OSError:
            continue
        if value.isdigit() and int(value) < 2**60:
            limits.append(int(value))
    return min(limits) if limits else None


def parse_bytes(name: str, text: str) -> int:
    """'64G', '512M', '1.5T' or a plain number of bytes."""
    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    body = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = body[-1:] if body[-1:] in units else ""
    try:
        value = float(body[:len(body) - len(unit)])
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a size in bytes such as 64G or 512M, got {text!r}")
    return int(value * units[unit])


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError("unreachable")


def check_memory(parts: Mapping[str, float], what: str = "the world") -> None:
    """ValueError when the estimated bytes of ``parts`` (description -> bytes) exceed
    `memory_limit`; the message names the largest parts, so the settings to lower."""
    limit = memory_limit()
    total = float(sum(parts.values()))
    if limit is None or total <= limit:
        return
    largest = sorted(parts.items(), key=lambda kv: -kv[1])[:2]
    detail = "; ".join(f"{part}: {format_bytes(size)}" for part, size in largest if size > 0)
    raise ValueError(f"{what} would need about {format_bytes(total)} of memory ({detail}), "
                     f"more than the {format_bytes(limit)} available; lower those settings "
                     f"(or set {MEMORY_LIMIT_VARIABLE} to raise the limit)")
