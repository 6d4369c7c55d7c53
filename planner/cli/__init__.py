"""The ``planner`` command (click): builds requests from flags and renders answers."""

from planner.cli.app import cli, main

__all__ = ["cli", "main"]
