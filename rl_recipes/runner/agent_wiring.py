"""What a recipe with tools or environments adds to the start-up: the trainer's `tools` and
`environment_factory` resolved and checked, the prompts checked for chat form and environment names, the rows of
a run whose environment supplies the prompts, and the tool schemas each row is offered (for the prompt-fit check).
"""

import inspect

from rl_recipes.checks import RecipeError
from rl_recipes.runner.cli import RecipeArguments


def resolve_agent(script_args: RecipeArguments, reward_funcs: list, trainer_class) -> dict:
    """The trainer's `tools` and `environment_factory` (TRL's GRPOTrainer arguments), checked, with the time limit of
    each call (`tool_call_timeout`); empty for a single-turn recipe. Our agent trainers run the calls under the limit
    themselves; for TRL's GRPOTrainer, each tool is wrapped in it."""
    from trl import RLOOTrainer

    from rl_recipes.agents.tools import resolve_environment, resolve_tools, time_limited_environment, with_time_limit

    if not script_args.tools and not script_args.environment_factory:
        return {}
    if script_args.tool_call_timeout < 0:
        raise RecipeError(f"tool_call_timeout is {script_args.tool_call_timeout}: give seconds, or 0 for no limit.")
    timeout = script_args.tool_call_timeout
    ours = issubclass(trainer_class, RLOOTrainer)
    tools = resolve_tools(script_args.tools)
    agent = (
        {"tools": tools, "tool_call_timeout": timeout}
        if ours
        else {"tools": [with_time_limit(tool, timeout) for tool in tools]}
    )
    scored_by_environment = False
    if script_args.environment_factory:
        factories = {name: resolve_environment(path) for name, path in environment_paths(script_args).items()}
        # Read from the user's factories, not the time-limited wrappers, so a class need not be instantiated here.
        scored_by_environment = any(
            callable(getattr(class_of(factory), "get_reward", None)) for factory in factories.values()
        )
        if not ours:
            factories = {name: time_limited_environment(factory, timeout) for name, factory in factories.items()}
        agent["environment_factory"] = (
            factories if isinstance(script_args.environment_factory, dict) else factories[None]
        )
    if not reward_funcs and not scored_by_environment:
        raise RecipeError(
            "reward_funcs is empty and no environment get_reward scores the rollouts: name a reward, "
            "or give the environment a get_reward method."
        )
    return agent


def environment_paths(script_args: RecipeArguments) -> dict:
    """The recipe's environments by name (None for the one of a single `environment_factory`), as dotted paths; a
    mapping given as JSON on the command line is read here."""
    import json

    value = script_args.environment_factory
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = script_args.environment_factory = json.loads(value)
        except json.JSONDecodeError as error:
            raise RecipeError(
                f"environment_factory is not valid JSON ({error}): give a dotted path, or a mapping "
                '\'{"game": "my_envs.Game", "shop": "my_envs.Shop"}\'.'
            ) from None
    if isinstance(value, dict):
        if not value or not all(isinstance(path, str) for path in value.values()):
            raise RecipeError(
                "environment_factory as a mapping names each environment's dotted path, such as "
                "{game: my_envs.Game, shop: my_envs.Shop}."
            )
        return {str(name): path for name, path in value.items()}
    return {None: value}


def class_of(factory) -> type:
    """The class of an environment factory's instances (a class, or a function returning an instance: one is made)."""
    return factory if inspect.isclass(factory) else type(factory())


def environment_owned_prompts(script_args: RecipeArguments, training_args):
    """The rows of a run without a data set, whose environment supplies every prompt from `reset` (TRL's contract):
    one generation batch of empty user messages, drawn again each step; `max_steps` says how long to train."""
    from datasets import Dataset

    from rl_recipes.data import EMPTY_PROMPT, rows_per_generation_batch

    if isinstance(script_args.environment_factory, dict):
        raise RecipeError(
            "Several environments (environment_factory as a mapping) need a data set whose environment "
            "column picks each row's: set dataset_name, or name one environment."
        )
    if training_args.max_steps <= 0:
        raise RecipeError(
            "No data set: the environment's reset supplies the prompts, so the run has no epochs to "
            "count: set max_steps to the number of steps to train."
        )
    return Dataset.from_dict({"prompt": [EMPTY_PROMPT] * rows_per_generation_batch(training_args)})


def check_agent_prompts(dataset, environment_factory) -> None:
    """Tools are listed, called and answered in chat turns: the prompts must be conversations. With several
    environments, each row must name one of them in its `environment` column."""
    if isinstance(dataset[0]["prompt"], str):
        raise RecipeError(
            "tools and environments need chat prompts, and these are plain text: set conversational true "
            "(each text prompt becomes the user's message), or give a data set of message lists."
        )
    if isinstance(environment_factory, dict):
        if "environment" not in dataset.column_names:
            raise RecipeError(
                f"environment_factory names several environments ({', '.join(environment_factory)}), and "
                "the data set has no environment column to pick each row's: add it."
            )
        unknown = sorted({str(name) for name in dataset["environment"]} - set(map(str, environment_factory)))
        if unknown:
            raise RecipeError(
                f"Rows pick environment {', '.join(unknown)}, which environment_factory does not name "
                f"(it names {', '.join(environment_factory)}): fix the rows' environment or add it."
            )


def offered_tools(script_args: RecipeArguments, dataset):
    """(the JSON schemas of the tools a row is offered, those rows) for each group of rows offered the same tools: one
    group, but for several environments, where each row's `environment` picks."""
    from transformers.utils import get_json_schema

    from rl_recipes.agents.tools import resolve_environment, resolve_tools, unbound_tools

    if not script_args.tools and not script_args.environment_factory:
        return [(None, dataset)]

    standalone = [get_json_schema(tool) for tool in resolve_tools(script_args.tools)]
    groups = []
    for name, path in (environment_paths(script_args) if script_args.environment_factory else {None: None}).items():
        schemas = list(standalone)
        if path is not None:
            schemas += [get_json_schema(method) for method in unbound_tools(class_of(resolve_environment(path)))]
        rows = dataset if name is None else dataset.filter(lambda row, name=name: str(row["environment"]) == name)
        if len(rows):
            groups.append((schemas, rows))
    return groups
