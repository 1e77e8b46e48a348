"""Reading a config: YAML or JSON files, plain dicts (a Tune trial's) and dotted overrides
(`--set key=value`, or Tune's `{"budget.instruct_fraction": 0.1}`), each field type-checked against
its annotation in `config.py` and the whole validated by `config_checks.py`; every problem is
reported together in one `ConfigError`, naming the file and field. Saving writes atomically.
"""

from __future__ import annotations

import json
import os
import reprlib
import tempfile
from collections.abc import Iterable, Mapping
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import yaml

from classit_ray.config import SECTIONS, Config, ConfigError, config_to_dict
from classit_ray.config_checks import validate

# Section name -> {field: resolved annotation}.
_FIELD_TYPES: dict[str, dict[str, Any]] = {name: get_type_hints(cls) for name, cls in SECTIONS.items()}


def _describe(value: Any) -> str:
    """`str 'many'`: the type and a length-capped repr, for messages."""
    return f"{type(value).__name__} {reprlib.repr(value)}"


def _did_you_mean(word: Any, choices: Iterable[Any], before: str = "", after: str = "") -> str:
    """` (did you mean 'x'?)` for the closest of `choices` (wrapped in before/after), or ''."""
    matches = get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean {before + matches[0] + after!r}?)" if matches else ""


def _unknown_key(path: str) -> str:
    """The problem for an unknown dotted key, suggesting the closest real key at that level."""
    section, dot, key = path.partition(".")
    if section in _FIELD_TYPES:
        return f"unknown key {path!r}{_did_you_mean(key, _FIELD_TYPES[section], before=section + '.')}"
    return f"unknown key {path!r}{_did_you_mean(section, _FIELD_TYPES, after=dot + key)}"


def _type_name(tp: Any) -> str:
    """ "list[str]", "dict[str, float]", "int": a choice (Literal) is named by its values' type."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        return type(args[0]).__name__
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(map(_type_name, args))}]"
    return tp.__name__


def _wrong_type(path: str, tp: Any, value: Any) -> tuple[None, list[str]]:
    return None, [f"{path}: expected {_type_name(tp)}, got {_describe(value)}"]


# The Python types each scalar annotation accepts: an int is a fine float ("lr: 1" in YAML).
# bool is an int subclass, so `_coerce` rejects it for int and float separately.
_ACCEPTS = {str: str, int: int, float: (int, float), bool: bool}


def _coerce(path: str, value: Any, tp: Any) -> tuple[Any, list[str]]:
    """`value` checked against annotation `tp`: (a fresh copy, ints widened to float; problems)."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            return _wrong_type(path, tp, value)
        items = [_coerce(f"{path}[{i}]", item, args[0]) for i, item in enumerate(value)]
        return [v for v, _ in items], [p for _, found in items for p in found]
    if origin is dict:
        if not isinstance(value, Mapping):
            return _wrong_type(path, tp, value)
        out, problems = {}, []
        for key, item in value.items():
            problems += _coerce(f"{path} key {key!r}", key, args[0])[1]
            out[key], found = _coerce(f"{path}[{key!r}]", item, args[1])
            problems += found
        return out, problems
    if origin is Literal:
        if not isinstance(value, type(args[0])) or isinstance(value, bool):
            return _wrong_type(path, tp, value)
        if value not in args:
            allowed = [str(a) for a in args]
            return None, [
                f"{path}: unknown value {value!r}{_did_you_mean(value, allowed)}; expected one of {', '.join(allowed)}"
            ]
        return value, []
    if isinstance(value, bool) != (tp is bool) or not isinstance(value, _ACCEPTS[tp]):
        return _wrong_type(path, tp, value)
    return (float(value) if tp is float else value), []


def _build_section(name: str, raw: Any, problems: list[str], bad: set[str]) -> Any:
    """One section dataclass from its mapping; bad keys and values are reported and defaulted."""
    cls, types = SECTIONS[name], _FIELD_TYPES[name]
    if raw is None:  # `budget:` with nothing under it in YAML: all defaults
        return cls()
    if not isinstance(raw, Mapping):
        problems.append(f"{name}: expected a mapping, got {_describe(raw)}")
        return cls()
    kwargs = {}
    for key, value in raw.items():
        path = f"{name}.{key}"
        if key not in types:
            problems.append(_unknown_key(path))
            continue
        value, found = _coerce(path, value, types[key])
        problems += found
        if found:
            bad.add(path)
        else:
            kwargs[key] = value
    return cls(**kwargs)


def config_from_dict(d: Mapping, source: str = "") -> Config:
    """Build and validate a Config; missing keys take defaults; raises one ConfigError with all
    problems. A field with a bad type takes its default for the range checks, so that the other
    fields are still checked in the same pass."""
    if not isinstance(d, Mapping):
        raise ConfigError([f"top level: expected a mapping, got {_describe(d)}"], source)
    problems = [_unknown_key(str(key)) for key in d if key not in SECTIONS]
    bad: set[str] = set()  # fields that took their default for being wrong: not checked against others
    cfg = Config(**{name: _build_section(name, d.get(name), problems, bad) for name in SECTIONS})
    problems += validate(cfg, bad)
    if problems:
        raise ConfigError(problems, source)
    return cfg


# ---- overrides, files, hashing -------------------------------------------------------------------
def _parse_cli_overrides(items: Iterable[str], problems: list[str]) -> list[tuple[str, Any]]:
    """`key=value` strings -> (key, value) pairs, the value read as YAML ("0.1" -> 0.1)."""
    pairs = []
    for item in items:
        key, eq, text = item.partition("=")
        if not eq:
            problems.append(f"override {item!r}: expected key=value")
            continue
        try:
            pairs.append((key.strip(), yaml.safe_load(text)))
        except yaml.YAMLError as err:
            problems.append(f"override {item!r}: value is not valid YAML ({' '.join(str(err).split())})")
    return pairs


def apply_overrides(cfg: Config, overrides: Mapping[str, Any] | Iterable[str]) -> Config:
    """A new validated Config with `overrides` applied; `cfg` itself is left untouched.

    `overrides` maps dotted paths to values (as Ray Tune passes them) or is a list of command-line
    `key=value` strings."""
    problems: list[str] = []
    if isinstance(overrides, str):  # a lone "key=value" would otherwise be iterated by character
        overrides = [overrides]
    pairs = overrides.items() if isinstance(overrides, Mapping) else _parse_cli_overrides(overrides, problems)
    data = config_to_dict(cfg)  # a deep copy: editing it cannot reach `cfg`
    for path, value in pairs:
        section, dot, key = str(path).partition(".")
        if not dot:
            problems.append(f"override {path!r}: expected a dotted path 'section.field'")
        elif section in data and key in data[section]:
            data[section][key] = value
        else:
            problems.append(_unknown_key(str(path)))
    try:
        new = config_from_dict(data)
    except ConfigError as err:
        problems += err.problems
    if problems:
        raise ConfigError(problems)
    return new


def _file_format(path: Path) -> str:
    formats = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}
    if path.suffix.lower() not in formats:
        raise ConfigError([f"unsupported suffix {path.suffix!r}; expected .yaml, .yml or .json"], str(path))
    return formats[path.suffix.lower()]


def load_config(path: str | os.PathLike) -> Config:
    """Read and validate a YAML or JSON config; every error names the file."""
    path = Path(path).expanduser()
    fmt, source = _file_format(path), str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([f"cannot read the file: {err.strerror or err}"], source) from None
    try:
        data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ConfigError([f"not valid {fmt.upper()}: {' '.join(str(err).split())}"], source) from None
    return config_from_dict({} if data is None else data, source)  # an empty file = all defaults


def save_config(cfg: Config, path: str | os.PathLike) -> None:
    """Write `cfg` as YAML or JSON (by suffix) atomically: a crash leaves the old file or none."""
    path = Path(path).expanduser()
    data = config_to_dict(cfg)
    json_file = _file_format(path) == "json"
    text = json.dumps(data, indent=2) + "\n" if json_file else yaml.safe_dump(data, sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a config is read by other users and workers
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
