"""What every entry point shares: a clean exit with a message instead of a stack trace, and
argparse ``type=`` functions for the comma lists the commands take."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, NoReturn

from disguise.attributes import check_names
from disguise.editing import parse_alphas


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


def alpha_list(text: str) -> list[float]:
    """A ``type=`` for alpha lists: ``"0,1,2,3,4"`` or ``"-4 -3 -2"``."""
    try:
        return parse_alphas(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def attribute_list(text: str) -> list[str]:
    """A ``type=`` for comma-separated CelebA attribute names (empty: none)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    try:
        check_names(names)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return names
