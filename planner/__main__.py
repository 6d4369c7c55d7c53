"""``python -m planner`` and the ``planner`` command. Ctrl-C is answered from the first instruction:
until the CLI has set up its own handling (while click and the package import), it ends the process
with status 130 and one line, as it does later."""

import os
import signal


def _early_interrupt(signum, frame) -> None:
    os.write(2, b"Interrupted; nothing was written.\n")
    os._exit(130)


def run() -> None:
    previous = signal.signal(signal.SIGINT, _early_interrupt) if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN \
        else None
    from planner.cli import main

    if previous is not None:
        signal.signal(signal.SIGINT, previous)
    main()


if __name__ == "__main__":
    run()
