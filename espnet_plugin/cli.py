"""How every entry point (``espnet_plugin/bin/*.py``) ends: the project's own errors as one line.

    if __name__ == "__main__":
        from espnet_plugin.cli import run_main

        raise SystemExit(run_main(main))

An :class:`espnet_plugin.errors.EspnetPluginError` (``DataError``, ``ConfigError``, ...) escaping
``main`` is printed as the single line ``error: <message>`` on stderr (the message names the file
or utterance) and the exit status is ``EXIT_ERROR`` (2); its traceback is printed first only with
``--debug`` on the command line (removed before ``main`` sees it, so no parser needs the option)
or ``ESPNET_PLUGIN_DEBUG=1`` in the environment. Any other exception is a bug: it keeps Python's
traceback and exit status 1. ``SystemExit`` (argparse, ``sys.exit``) passes through unchanged.
"""
from __future__ import annotations

import os
import sys
import traceback
from typing import Any, Callable, Optional, Sequence

from espnet_plugin.errors import EspnetPluginError

EXIT_ERROR = 2  # the status of a run stopped by one of the project's own errors
DEBUG_FLAG = "--debug"
DEBUG_ENV = "ESPNET_PLUGIN_DEBUG"


def debug_requested(argv: Sequence[str]) -> tuple[list[str], bool]:
    """``argv`` without ``--debug``, and whether tracebacks are wanted (the flag or the env var)."""
    rest = [a for a in argv if a != DEBUG_FLAG]
    env = os.environ.get(DEBUG_ENV, "").strip().lower()
    return rest, len(rest) != len(argv) or env not in ("", "0", "false", "no")


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line.

    An error re-raised from a DataLoader worker carries the worker's traceback in its message
    ("Caught DataError in DataLoader worker process 0.\\nOriginal Traceback ...\\n<module>.DataError:
    <message>"): only the original message is kept, with where it was caught.
    """
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if len(lines) > 2 and lines[1].startswith("Original Traceback"):
        last = lines[-1]
        name = f"{type(exc).__name__}: "
        if name in last:
            last = last.split(name, 1)[1]
        where = lines[0].removeprefix(f"Caught {type(exc).__name__} ").rstrip(".")
        return f"{last} ({where})"
    return " | ".join(lines) or type(exc).__name__


def run_main(main: Callable[[list[str]], Any], argv: Optional[Sequence[str]] = None) -> int:
    """Run ``main(argv)`` (default ``sys.argv[1:]``) and return the process's exit status.

    Args:
        main: an entry point's ``main``; it receives the arguments without ``--debug``.
        argv: the command-line arguments.
    Returns:
        ``main``'s return value when it is an int (a status), else 0; ``EXIT_ERROR`` (2) after an
        :class:`EspnetPluginError`, printed as ``error: <message>`` on stderr.
    Raises:
        Every other exception of ``main`` (a bug: Python prints its traceback, status 1).
    """
    args, debug = debug_requested(list(sys.argv[1:] if argv is None else argv))
    try:
        ret = main(args)
    except EspnetPluginError as exc:
        if debug:
            traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
        print(f"error: {one_line(exc)}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    return ret if isinstance(ret, int) and not isinstance(ret, bool) else 0
