"""Tools and environments as recipes name them, checked before any model loads, and bounded in time.

- `tools`: names from `SHIPPED_TOOLS` or dotted paths `package.module.function` to your own functions.
  Each needs type hints on every argument and a docstring with an `Args:` section that describes
  each one: transformers turns them into the JSON schema the chat template shows the model
  (`transformers.utils.get_json_schema`), as TRL requires.
- `environment_factory`: the dotted path of a class (or of a function returning an instance). TRL's
  contract: one instance per rollout; `reset(**row)` at the start of each task, whose returned string
  is appended to the prompt; every public method but `reset` and `get_reward` is a tool (with the
  same needs as above; there may be none); an optional `get_reward()` is read once the rollout ends,
  as an extra reward. Several environments come as a mapping from names to such paths.

Every tool call runs under a time limit (`tool_call_timeout` seconds; 0 for none): a call that does
not return in time gives the model an error result. Our agent trainers enforce it where they run the
calls (`rl_recipes.agents.execution`); for TRL's GRPOTrainer, which runs them itself, `with_time_limit`
and `time_limited_environment` wrap each tool in it. Python cannot stop a thread, so such a call
keeps running in the background and its result is dropped.
"""

import asyncio
import functools
import inspect
import types
from collections.abc import Callable

from rl_recipes.checks import RecipeError
from rl_recipes.imports import import_dotted

# The shipped tools go by bare names; each is imported from its task only when a recipe names it.
SHIPPED_TOOLS: dict[str, str] = {
    "add": "rl_recipes.tasks.calculator.tools.add",
    "subtract": "rl_recipes.tasks.calculator.tools.subtract",
    "multiply": "rl_recipes.tasks.calculator.tools.multiply",
}
ENVIRONMENT_HOOKS = ("reset", "get_reward")  # methods of an environment that are not tools


def check_schema(tool: Callable, label: str) -> None:
    """The tool must have the type hints and docstring that transformers needs to describe it to the model."""
    from transformers.utils import get_json_schema

    try:
        get_json_schema(tool)
    except Exception as error:  # transformers' TypeHintParsingException and DocstringParsingException, or worse
        raise RecipeError(
            f"{label} cannot be shown to the model ({' '.join(str(error).split())}): give every argument a type hint "
            "and write a docstring with an Args: section that describes each one."
        ) from None


def resolve_tools(specs: list[str]) -> list[Callable]:
    """The tools `specs` names (shipped names or dotted paths), each checked."""
    tools = []
    for spec in specs:
        tool = import_dotted(SHIPPED_TOOLS.get(spec, spec), "Tool", shipped=spec in SHIPPED_TOOLS)
        if not callable(tool):
            raise RecipeError(f"Tool '{spec}' is a {type(tool).__name__}, not a function.")
        check_schema(tool, f"Tool '{spec}'")
        tools.append(tool)
    names = [tool.__name__ for tool in tools]
    if len(set(names)) < len(names):
        raise RecipeError(f"Two tools share a name ({', '.join(names)}): the model calls tools by name; rename one.")
    return tools


def environment_tool_names(environment_class: type) -> list[str]:
    """The public methods of an environment class that are tools, in TRL's order (by name)."""
    return [
        name
        for name, _ in inspect.getmembers(environment_class, predicate=inspect.isfunction)
        if name not in ENVIRONMENT_HOOKS and not name.startswith("_")
    ]


def resolve_environment(spec: str) -> Callable:
    """The environment factory `spec` names, checked: it makes an instance with `reset` and well-described tools."""
    factory = import_dotted(spec, "Environment")
    if not callable(factory):
        raise RecipeError(f"Environment '{spec}' is a {type(factory).__name__}, not a class or function.")
    environment_class = factory if inspect.isclass(factory) else type(factory())
    if not callable(getattr(environment_class, "reset", None)):
        raise RecipeError(
            f"Environment '{spec}' has no reset method: define reset(self, **row), which starts a task "
            "from a data set row (and may return a string to append to the prompt)."
        )
    for method in unbound_tools(environment_class):  # it may have none: then it only resets and scores
        check_schema(method, f"Environment method '{spec}.{method.__name__}'")
    return factory


def unbound_tools(environment_class: type) -> list[Callable]:
    """An environment class's tool methods, each bound to a stand-in as an instance's method is, so that its schema
    (what the model is shown) leaves out `self`; for describing the tools before any instance exists."""
    return [
        types.MethodType(getattr(environment_class, name), object())
        for name in environment_tool_names(environment_class)
    ]


def environment_tools(environment) -> list[Callable]:
    """An environment instance's tools: its public methods but reset and get_reward, bound to it."""
    return [getattr(environment, name) for name in environment_tool_names(type(environment))]


def with_time_limit(tool: Callable, seconds: float) -> Callable:
    """`tool`, raising TimeoutError when a call takes longer than `seconds` (0: no limit). Its name, signature and
    docstring are kept, so the model is shown the same tool. For TRL's GRPOTrainer, which runs the calls itself."""
    if not seconds:
        return tool
    if inspect.iscoroutinefunction(tool):

        @functools.wraps(tool)
        async def limited_async(*args, **kwargs):
            try:
                return await asyncio.wait_for(tool(*args, **kwargs), seconds)
            except asyncio.TimeoutError:
                raise TimeoutError(f"{tool.__name__} did not return within {seconds:g} s") from None

        return limited_async

    from rl_recipes.agents.execution import ToolCall, ToolExecutor

    executor = ToolExecutor(max_parallel_calls=1, timeout=seconds)  # a daemon thread a call, as the recipes run them

    @functools.wraps(tool)
    def limited(*args, **kwargs):
        ((outcome,),) = executor.run([[ToolCall(tool.__name__, functools.partial(tool, *args), kwargs)]])
        if outcome.error is not None:
            raise outcome.error
        return outcome.value

    return limited


def time_limited_environment(factory: Callable, seconds: float) -> Callable:
    """A factory making `factory`'s environments with every tool method under `with_time_limit`: each instance's
    class becomes a subclass (same name) whose tool methods are the limited ones, which is what a trainer that lists
    an environment's methods on its class (TRL's GRPOTrainer, ours) then finds."""
    if not seconds:
        return factory
    limited_classes = {}

    @functools.wraps(factory, updated=())
    def make():
        environment = factory()
        cls = type(environment)
        if cls not in limited_classes:
            methods = {name: with_time_limit(getattr(cls, name), seconds) for name in environment_tool_names(cls)}
            limited_classes[cls] = type(
                cls.__name__, (cls,), {**methods, "__qualname__": cls.__qualname__, "__module__": cls.__module__}
            )
        environment.__class__ = limited_classes[cls]
        return environment

    return make


def check_tool_chat_template(processing_class, model: str) -> None:
    """Tools need a chat template that renders calls and their results (TRL's `supports_tool_calling`), and a
    response template to read the calls back: the tokenizer's own, or one TRL knows for its chat template."""
    from trl.chat_template_utils import add_response_schema, supports_tool_calling

    if not supports_tool_calling(processing_class):
        raise RecipeError(
            f"The chat template of {model} cannot express tool calls (rendering a call and its result loses them): "
            "use a model whose template can (Qwen2.5 or Qwen3 instruct models, the embedded models/tiny-tools), or "
            "save the model with a chat template that renders assistant tool_calls and tool messages."
        )
    tokenizer = getattr(processing_class, "tokenizer", processing_class)
    if getattr(tokenizer, "response_template", None) is None and getattr(tokenizer, "response_schema", None) is None:
        try:
            add_response_schema(processing_class)
        except ValueError:
            raise RecipeError(
                f"The tokenizer of {model} has no response template, and TRL knows none for its chat template, so "
                "tool calls could not be read from what the model writes: set `response_template` in its "
                "tokenizer_config.json (transformers' response parsing)."
            ) from None
