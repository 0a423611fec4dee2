"""Reward functions by name.

Every reward takes TRL's reward signature, `fn(prompts, completions, **kwargs) -> list[float | None]`
(extra dataset columns arrive as keyword arguments), so it can be handed to any TRL trainer as is.
Recipes name rewards in `reward_funcs`: a short name from `REWARD_FUNCS`, or the dotted path
`package.module.function` of a function in the user's own code.
"""

import importlib
import os
import sys
from collections.abc import Callable

from rewards.a_words import a_words

REWARD_FUNCS: dict[str, Callable] = {
    "a_words": a_words,
}


class UnknownRewardError(ValueError):
    pass


def get_reward_func(name: str) -> Callable:
    """The reward registered as `name`, or the function at the dotted import path `name`."""
    if name in REWARD_FUNCS:
        return REWARD_FUNCS[name]
    valid = ", ".join(sorted(REWARD_FUNCS))
    if "." not in name:
        raise UnknownRewardError(
            f"Unknown reward '{name}': use one of {valid}, or a dotted path package.module.function to your own."
        )
    module_name, func_name = name.rsplit(".", 1)
    # A script's own folder heads sys.path, not the working directory; a user's reward module sits
    # beside where they launch from, as with `python -m`.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UnknownRewardError(
            f"Reward '{name}': cannot import module '{module_name}' ({error}); make it importable from the "
            f"working directory or installed, or use one of {valid}."
        ) from None
    func = getattr(module, func_name, None)
    if func is None:
        raise UnknownRewardError(f"Reward '{name}': module '{module_name}' has no attribute '{func_name}'.")
    if not callable(func):
        raise UnknownRewardError(f"Reward '{name}' is a {type(func).__name__}, not a function.")
    return func


def get_reward_funcs(names: list[str]) -> list[Callable]:
    return [get_reward_func(name) for name in names]
