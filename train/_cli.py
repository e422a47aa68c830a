"""What every entry point shares: a clean exit with a message instead of a stack trace, and
argparse ``type=`` functions for the comma lists the commands take."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, NoReturn, Sequence

from disguise.attributes import check_names
from disguise.sliders.editor import parse_alphas


def fail(message: str, code: int = 2) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def run(main: Callable[[list[str] | None], int], argv: list[str] | None = None,
        expected: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, OSError)) -> int:
    """Call ``main``; turn the errors a user can cause into one line on stderr and exit code 2."""
    try:
        return main(argv)
    except expected as e:
        fail(str(e))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def add_run_options(p: argparse.ArgumentParser, data: str, resume: str) -> None:
    """The options every training command takes: its data folder, its run folder, --resume."""
    p.add_argument("--data", required=True, help=data)
    p.add_argument("--out", required=True, help="run folder (new, or an existing one with --resume)")
    p.add_argument("--resume", action="store_true", help=resume)


def int_list(example: str) -> Callable[[str], tuple[int, ...]]:
    """A ``type=`` for ``"64,128,128"``-style options; the message shows ``example``."""
    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(v) for v in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be integers like {example}, got {text!r}") from None
        return values
    parse.__name__ = "integer list"  # what argparse names in its error
    return parse


def typed_list(kind: type, example: str) -> Callable[[str], tuple]:
    """A ``type=`` for a comma list of ``kind`` (float or str; empty: none); the message shows
    ``example``."""
    def parse(text: str) -> tuple:
        try:
            return tuple(kind(v.strip()) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a comma list like {example}, got {text!r}") from None
    parse.__name__ = f"{kind.__name__} list"
    return parse


def alpha_list(text: str) -> list[float]:
    """A ``type=`` for alpha lists: ``"0,1,2,3,4"`` or ``"-4 -3 -2"``."""
    try:
        return parse_alphas(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def name_list(check):
    """A ``type=`` for a comma-separated list of names (empty: none) that ``check`` accepts
    (it raises ``ValueError`` with the message to show)."""
    def names(text: str) -> list[str]:
        found = [n.strip() for n in text.split(",") if n.strip()]
        try:
            check(found)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return found

    return names


attribute_list = name_list(check_names)  # CelebA attribute names


def field_docs(cls: type) -> dict[str, str]:
    """Each field's line(s) in a config dataclass's docstring ``Attributes:`` section: the one
    description of an option, for its ``--help`` as for its reader."""
    import inspect
    import re

    doc = inspect.getdoc(cls) or ""
    section = doc.split("Attributes:", 1)[1] if "Attributes:" in doc else ""
    docs, name = {}, None
    for line in section.splitlines():
        m = re.match(r"^\s{4}([\w /]+?):\s*(.*)$", line)
        if m and not line.startswith(" " * 8):
            names = [n.strip() for n in m.group(1).split("/")]
            for n in names:
                docs[n] = m.group(2).strip()
            name = names
        elif name and line.strip():
            for n in name:
                docs[n] += " " + line.strip()
    return docs


def add_config_options(p, cls: type, names: Sequence[str], none_defaults: bool = False,
                       overrides: dict | None = None) -> None:
    """``--flag`` options for the fields ``names`` of the config dataclass ``cls``: the type,
    the choices (a field's ``metadata["choices"]``), the default and the help all come from the
    class (its docstring documents each field), so nothing is typed twice.

    ``none_defaults``: the options default to None ("not given"), so that resuming a run can
    tell them from its saved values; the help still shows the class's default. Booleans that
    default to True get a ``--no-NAME`` flag; tuples of ints take ``1,2,3``."""
    import dataclasses
    import typing

    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    for name in names:
        f = by_name[name]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if overrides and name in overrides:
            default = overrides[name]
        kind = hints[name]
        args = typing.get_args(kind)
        flag = "--" + name.replace("_", "-")
        text = docs.get(name, "").replace("%", "%%")
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        if kind is bool:
            if default:
                p.add_argument("--no-" + name.replace("_", "-"), dest=name, action="store_false",
                               default=None if none_defaults else True, help=f"turn off: {text}")
            else:
                p.add_argument(flag, dest=name, action="store_true",
                               default=None if none_defaults else False, help=text)
            continue
        if typing.get_origin(kind) is tuple:
            element = (typing.get_args(kind) or (int,))[0]
            example = ",".join(map(str, default)) or "1,2,3"
            parse = int_list(example) if element is int else typed_list(element, example)
        elif args and type(None) in args:  # Optional[X]
            parse = next(a for a in args if a is not type(None))
        else:
            parse = kind
        p.add_argument(flag, dest=name, type=parse, default=None if none_defaults else default,
                       choices=f.metadata.get("choices"), metavar=None if f.metadata.get("choices") else name.upper(),
                       help=f"{text} (default: {shown})")
