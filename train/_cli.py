"""What every entry point shares: a clean exit with a message instead of a stack trace."""

from __future__ import annotations

import sys
from typing import Callable, NoReturn


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
