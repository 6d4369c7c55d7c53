"""The flags of ``--mode training`` and ``--mode compression``, generated from the settings
models (``TrainingSetup``, ``CompressionSetup``): one click option per field, with its type,
default and docstring, so a flag cannot drift from the setting the costs and the what-if files
use. Only click is imported here; the models are imported when a command first needs its
parameters (parsing or its own help), so ``planner --help`` stays instant."""

from __future__ import annotations

import click

MODES = ("training", "compression")
"""The modes whose settings generate flags (planner.requests.SETTINGS)."""


def _option(name: str, info, mode: str) -> click.Option:
    from typing import Literal, get_args, get_origin

    from planner.flags import flag_of

    flag, param = flag_of(name)
    help_text = " ".join((info.description or "").split()) + f" (--mode {mode})."
    kind = info.annotation
    if get_origin(kind) is Literal:
        return click.Option([flag, param], type=click.Choice(get_args(kind)), default=info.default, show_default=True,
                            help=help_text)
    if kind is bool:
        return click.Option([flag, param], is_flag=True, help=help_text)
    if kind is int:
        return click.Option([flag, param], type=int, default=info.default, show_default=True, help=help_text)
    return click.Option([flag, param], default=None, help="Comma-separated: " + help_text)  # a tuple of names


def mode_params(mode: str, skip: tuple[str, ...] = ()) -> list[click.Option]:
    from planner.flags import SHARED_FIELDS, flag_of
    from planner.requests import settings_class

    fields = settings_class(mode).__pydantic_fields__
    return [_option(name, info, mode) for name, info in fields.items()
            if name not in SHARED_FIELDS and flag_of(name)[0] not in skip]


def mode_param_names(mode: str) -> tuple[str, ...]:
    """The click parameter names of a mode's own flags (for the mode checks)."""
    from planner.requests import settings_params

    return settings_params(mode)


class SettingsCommand(click.Command):
    """A command that also takes the flags of the modes in ``modes``, added on first use."""

    modes: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        if not getattr(self, "_settings_added", False):
            self._settings_added = True
            for mode in self.modes:
                self.params.extend(mode_params(mode, self.skip))
        return super().get_params(ctx)


def settings_command(modes: tuple[str, ...] = MODES, skip: tuple[str, ...] = ()) -> type:
    """A SettingsCommand class for ``modes``, leaving out the flags in ``skip`` (the command has
    its own, or chooses them itself)."""
    return type("SettingsCommand", (SettingsCommand,), {"modes": modes, "skip": skip})


def settings_from_flags(mode: str, kwargs: dict, **shared):
    """The mode's settings from a command's keyword arguments (plus ``shared`` fields such as
    micro_batch and seq_len), or an InputError naming the flag."""
    from planner.requests import settings_from_params

    return settings_from_params(mode, kwargs, **shared)
