"""The recipes' argument parser: TRL's `TrlParser`, with deprecated names resolved before it parses.

transformers and TRL still accept some deprecated names (`gradient_checkpointing` for
`activation_checkpointing`, ...), but apply one only while its replacement is unset. Every shipped
recipe sets `activation_checkpointing`, so a `--gradient_checkpointing true` typed over it would be
dropped without a word. Here a deprecated name is read as its replacement wherever it is written,
so the usual order holds (a flag over the YAML, the YAML over the defaults), and writing both names
in the same place stops the run with one line.

A single value in the YAML for a setting that takes a list (`console_metrics: all`, `tools: add`) is a
list of that one value, as the same word after its flag is. TrlParser hands YAML values to argparse as
defaults, which reach the dataclass as they are, so a string would be read letter by letter.
"""

import re
import types
import typing
from dataclasses import fields

from trl import TrlParser

from rl_recipes.checks import RecipeError

# How transformers and TRL word the help of a deprecated field that another field replaces.
_DEPRECATED_HELP = re.compile(r"Deprecated(?: alias of|[.,]? [Uu]se) `(\w+)`")


def deprecated_aliases(dataclass_types) -> dict[str, str]:
    """Deprecated field name -> the field that replaces it, among the fields of `dataclass_types`.

    Read from the fields' help, TrainingArguments' own included (TRL's configs override some fields,
    `gradient_checkpointing` among them, with a help that no longer says it is deprecated)."""
    from transformers import TrainingArguments

    names = {f.name for cls in dataclass_types for f in fields(cls)}
    aliases = {}
    for cls in (TrainingArguments, *dataclass_types):
        for f in fields(cls):
            match = _DEPRECATED_HELP.match(f.metadata.get("help", ""))
            if match and f.name in names and match.group(1) in names:
                aliases[f.name] = match.group(1)
    return aliases


def flag_name(arg: str) -> str | None:
    """`name` for a command-line `--name` or `--name=value`, else None."""
    return arg[2:].split("=", 1)[0] if arg.startswith("--") else None


def _refuse_both(old: str, new: str, where: str) -> RecipeError:
    return RecipeError(
        f"{where} sets both {old} and {new}, and {old} is the deprecated name of {new}: keep {new} alone."
    )


def resolve_aliases_in_flags(argv: list[str], aliases: dict[str, str]) -> list[str]:
    """`argv` with each deprecated flag renamed to its replacement (the value, if any, kept)."""
    given = {flag_name(arg) for arg in argv}
    resolved = []
    for arg in argv:
        name = flag_name(arg)
        if name in aliases:
            if aliases[name] in given:
                raise _refuse_both(name, aliases[name], "The command line")
            arg = f"--{aliases[name]}" + arg[2 + len(name) :]
        resolved.append(arg)
    return resolved


def list_settings(dataclass_types) -> set[str]:
    """The fields typed as a list (`list[str]`, `list[float] | None`, ...). A field that takes a plain string too
    (`debug`, `report_to`) is left out: its class reads the string itself."""
    names = set()
    for cls in dataclass_types:
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            hint = hints.get(f.name, f.type)
            options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
            if str not in options and any(typing.get_origin(option) is list for option in options):
                names.add(f.name)
    return names


def single_values_as_lists(recipe: dict, names: set[str]) -> dict:
    """The YAML recipe's settings with a single value (a string or a number) of each list setting in `names` made a
    list of one."""
    return {
        key: [value] if key in names and isinstance(value, (str, int, float)) else value
        for key, value in recipe.items()
    }


def resolve_aliases_in_recipe(recipe: dict, aliases: dict[str, str], path: str) -> dict:
    """The YAML recipe's settings with each deprecated key renamed to its replacement."""
    resolved = dict(recipe)
    for old, new in aliases.items():
        if old in resolved:
            if new in resolved:
                raise _refuse_both(old, new, f"Recipe {path}")
            resolved[new] = resolved.pop(old)
    return resolved


class RecipeParser(TrlParser):
    """TrlParser that reads deprecated names as their replacements, in the YAML and on the command line, and a
    single value of a list setting in the YAML as a list of one."""

    def __init__(self, dataclass_types, config_path: str, **kwargs):
        super().__init__(dataclass_types, **kwargs)
        self.aliases = deprecated_aliases(dataclass_types)
        self.list_settings = list_settings(dataclass_types)
        self.config_path = config_path

    def set_defaults_with_config(self, **kwargs) -> list[str]:
        recipe = resolve_aliases_in_recipe(kwargs, self.aliases, self.config_path)
        return super().set_defaults_with_config(**single_values_as_lists(recipe, self.list_settings))

    def parse_args_and_config(self, args=None, **kwargs):
        return super().parse_args_and_config(resolve_aliases_in_flags(list(args), self.aliases), **kwargs)
