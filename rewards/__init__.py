"""Reward functions by name.

Every reward takes TRL's reward signature, `fn(prompts, completions, **kwargs) -> list[float | None]`
(extra dataset columns arrive as keyword arguments), so it can be handed to any TRL trainer as is.
Recipes name rewards in `reward_funcs`: a short name from `REWARD_FUNCS` or `TASK_REWARDS`, one of TRL's
reward names (`accuracy_reward`, `think_format_reward`, ...: `rewards.trl_rewards`), or the dotted path
`package.module.function` of a function in the user's own code.

A reward's own settings (a regular expression, a target length, a reward model's path) are keyword
parameters of the function with defaults; `reward_kwargs` in a recipe binds them by reward name. A few
rewards are built by a factory, as TRL builds its `get_*` rewards: their settings are the factory's
parameters (`REWARD_FACTORIES`).
"""

import functools
import inspect
from collections.abc import Callable

from rewards.a_words import a_words
from rewards.format import format_reward
from rewards.length import get_repetition_penalty, length_penalty
from rewards.math_accuracy import math_accuracy
from rewards.reward_model import reward_model
from rewards.text import TRL_CALL_ARGUMENTS
from rewards.trl_rewards import TRL_REWARD_FACTORIES, TRL_REWARD_FUNCS
from rl_recipes.checks import RecipeError
from rl_recipes.imports import import_dotted

REWARD_FUNCS: dict[str, Callable] = {
    "a_words": a_words,
    "math_accuracy": math_accuracy,
    "format": format_reward,
    "length": length_penalty,
    "reward_model": reward_model,
    **TRL_REWARD_FUNCS,
}
# Rewards built from their settings when the run starts: name -> factory(**settings) -> reward.
REWARD_FACTORIES: dict[str, Callable] = {
    "repetition": get_repetition_penalty,
    **TRL_REWARD_FACTORIES,
}
# The embedded tasks' rewards, each at home in its task's folder and imported when named: a task's reward may
# build on the rewards here (the calculator's reads numbers as `math_accuracy` does).
TASK_REWARDS: dict[str, str] = {
    "calculator_answer": "rl_recipes.tasks.calculator.reward.calculator_answer",
    "vault_opened": "rl_recipes.tasks.vault.reward.vault_opened",
}


class UnknownRewardError(ValueError):
    pass


def is_registered(name: str) -> bool:
    return name in REWARD_FUNCS or name in REWARD_FACTORIES or name in TASK_REWARDS


def get_reward_func(name: str) -> Callable:
    """The reward registered as `name` (a factory's with its default settings), or the function at the dotted import path `name`."""
    if name in REWARD_FUNCS:
        return REWARD_FUNCS[name]
    if name in REWARD_FACTORIES:
        return build_reward(name, {})
    if name in TASK_REWARDS:
        return import_dotted(TASK_REWARDS[name], "Reward", shipped=True)
    valid = ", ".join(sorted([*REWARD_FUNCS, *REWARD_FACTORIES, *TASK_REWARDS]))
    if "." not in name:
        raise UnknownRewardError(
            f"Unknown reward '{name}': use one of {valid}, or a dotted path package.module.function to your own."
        )
    try:
        func = import_dotted(name, "Reward", other_choices=f", or use one of {valid}")
    except RecipeError as error:
        raise UnknownRewardError(str(error)) from None
    if not callable(func):
        raise UnknownRewardError(f"Reward '{name}' is a {type(func).__name__}, not a function.")
    return func


def keyword_parameters(func: Callable) -> dict[str, inspect.Parameter]:
    """`func`'s parameters that can be given by keyword, but for what TRL passes every reward."""
    return {
        parameter: spec
        for parameter, spec in inspect.signature(func).parameters.items()
        if spec.kind in (spec.POSITIONAL_OR_KEYWORD, spec.KEYWORD_ONLY) and parameter not in TRL_CALL_ARGUMENTS
    }


def _check_setting_names(func: Callable, name: str, settings: dict) -> None:
    accepted = list(keyword_parameters(func))
    unknown = sorted(set(settings) - set(accepted))
    if unknown:
        takes = ", ".join(accepted) or "no settings"
        raise UnknownRewardError(f"Reward '{name}' has no setting {', '.join(map(repr, unknown))}: it takes {takes}.")


def bind_settings(func: Callable, name: str, settings: dict) -> Callable:
    """`func` with its keyword `settings` fixed, keeping its name (TRL names the reward's metrics after it)."""
    _check_setting_names(func, name, settings)
    return functools.update_wrapper(functools.partial(func, **settings), func)


def build_reward(name: str, settings: dict) -> Callable:
    """The reward that the factory registered as `name` builds from `settings`."""
    factory = REWARD_FACTORIES[name]
    _check_setting_names(factory, name, settings)
    try:
        return factory(**settings)
    except (TypeError, ValueError) as error:
        raise UnknownRewardError(f"Reward '{name}': {' '.join(str(error).split())}") from None


def get_reward_funcs(names: list[str], settings: dict[str, dict] | None = None) -> list[Callable]:
    """The rewards `names`, each with its settings from `settings` (reward name -> keyword arguments) bound."""
    settings = settings or {}
    stray = [name for name in settings if name not in names]
    if stray:
        raise UnknownRewardError(
            f"reward_kwargs names '{stray[0]}', which is not in reward_funcs ({', '.join(names)}): "
            "key reward_kwargs by the reward names as listed in reward_funcs."
        )
    funcs = []
    for name in names:
        if settings.get(name) is not None and not isinstance(settings[name], dict):
            raise UnknownRewardError(
                f"reward_kwargs['{name}'] is a {type(settings[name]).__name__}: give a mapping of setting -> value."
            )
        if name in REWARD_FACTORIES:
            funcs.append(build_reward(name, settings.get(name) or {}))
            continue
        func = get_reward_func(name)
        if settings.get(name):
            func = bind_settings(func, name, settings[name])
        funcs.append(func)
    return funcs
