"""What a recipe names by dotted path `package.module.name` (a reward, a tool, an environment), imported.

A user's module sits beside where they launch from, as with `python -m`, so the working directory is
searched first: a script's own folder heads `sys.path`, not the working directory. What the repository ships
under a short name (a tool, a task's reward) is imported by its path in the package, `sys.path` left as it is.
"""

import importlib
import os
import sys

from rl_recipes.checks import RecipeError


def split_dotted(path: str) -> tuple[str, str]:
    """`package.module.name` as the module's path and the name in it; a bare name has no module ('')."""
    module_name, _, name = path.rpartition(".")
    return module_name, name


def import_dotted(path: str, what: str, other_choices: str = "", shipped: bool = False) -> object:
    """The object at the dotted path `path`, imported from the working directory or the installed packages
    (`shipped`: from this repository's packages, for what a short name stands for).

    A path that cannot be followed raises a `RecipeError` naming it as `what` (`Tool`, `Reward`, ...);
    `other_choices` ends the message of a module that cannot be imported (", or use one of ...").
    """
    module_name, name = split_dotted(path)
    if not module_name:
        raise RecipeError(f"{what} '{path}' is not a dotted path package.module.name: give the module too.")
    if not shipped and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise RecipeError(
            f"{what} '{path}': cannot import module '{module_name}' ({error}); make it importable from the "
            f"working directory or installed{other_choices}."
        ) from None
    if not hasattr(module, name):
        raise RecipeError(f"{what} '{path}': module '{module_name}' has no attribute '{name}'.")
    return getattr(module, name)
