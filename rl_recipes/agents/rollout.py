"""Multi-turn rollouts with tools: generate, parse the calls, run them, append the results, generate again.

A rollout (a trajectory) starts from its prompt's token ids. Each round, every rollout whose last
assistant turn called a tool gets the calls run and their results appended, and all of them generate
their next turn together, in one batch. A rollout ends when its last turn calls nothing, when
`max_iterations` rounds have run, or when the next results would not fit.

Token in, token out: the model's own tokens are kept exactly as generated, and what follows a call
(the tool turn and the next assistant header) is appended as the ids the chat template renders for
it, found by rendering a conversation with and without the tool messages (TRL's
`GRPOTrainer._get_tool_suffix_ids` does the same); nothing the model wrote is re-tokenised.
`tool_mask` is 1 on the model's tokens and 0 on the appended ones, which a trainer keeps out of
every log-probability it optimises.

Faults are results, not crashes: an unknown tool, arguments the tool does not take, a tool that
raises or times out (see `rl_recipes.agents.tools.with_time_limit`), and a malformed call (the
call's opening marker written but no call parsed) each give the model an `error: ...` result and
count as a failed call. Results that would push a rollout past `max_completion_length` tokens
after its prompt, or past the model's context, are not appended: the rollout ends there, cut.
"""

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

MALFORMED_CALL = "malformed tool call: the call's opening marker was written, but no call could be read"


@dataclass
class Trajectory:
    """One rollout: its tokens after the prompt, which of them the model wrote, and the transcript."""

    prompt_ids: list[int]
    completion_ids: list[int] = field(default_factory=list)
    tool_mask: list[int] = field(default_factory=list)  # 1: the model's token; 0: appended (tool results)
    messages: list[dict] = field(default_factory=list)  # assistant turns (with tool_calls) and tool results
    tool_calls: int = 0
    tool_failures: int = 0
    turns: int = 0  # assistant turns
    cut: bool = False  # ended by a limit while a call was pending

    @property
    def model_tokens(self) -> int:
        return sum(self.tool_mask)


@dataclass
class ToolLoop:
    """What a batch of rollouts needs besides the model: the tokenizer and chat template, and the limits.

    `generate(batch_ids, max_new_tokens)` returns one continuation per row (new tokens only, cut after
    the first end-of-sequence token). `run_async` runs a coroutine to its end (an async tool's call).
    """

    tokenizer: object
    generate: Callable[[list[list[int]], int], list[list[int]]]
    max_completion_length: int
    max_model_len: int
    max_iterations: int | None = None
    chat_template: str | None = None
    chat_template_kwargs: dict = field(default_factory=dict)
    run_async: Callable = asyncio.run
    call_marker: str | None = None

    def run(self, prompt_ids: list[list[int]], tools: list[dict[str, Callable]], schemas: list[list],
            first_turn: list[list[int]] | None = None) -> list[Trajectory]:
        """Roll out every prompt with its own tools (name -> callable) and their schemas (for parsing). `first_turn`,
        when given, is each prompt's first assistant turn, already generated."""
        trajectories = [Trajectory(list(ids)) for ids in prompt_ids]
        self._extend(trajectories, list(range(len(trajectories))), schemas, first_turn)
        rounds = 0
        while self.max_iterations is None or rounds < self.max_iterations:
            calling = [i for i, t in enumerate(trajectories) if self._pending_calls(t)]
            if not calling:
                break
            continuing = [i for i in calling if self._run_calls(trajectories[i], tools[i])]
            if not continuing:
                break
            self._extend(trajectories, continuing, schemas)
            rounds += 1
        for trajectory in trajectories:
            trajectory.cut = trajectory.cut or bool(self._pending_calls(trajectory))
        return trajectories

    # --- one round -----------------------------------------------------------------------------

    def _extend(self, trajectories: list[Trajectory], rows: list[int], schemas: list[list],
                new: list[list[int]] | None = None) -> None:
        """Generate the next assistant turn of `rows` (unless `new` holds it), together, within what each has left of
        its budget."""
        budgets = [self.max_completion_length - len(trajectories[i].completion_ids) for i in rows]
        contexts = [trajectories[i].prompt_ids + trajectories[i].completion_ids for i in rows]
        if new is None:
            new = self.generate(contexts, max(budgets))
        for i, context, ids, budget in zip(rows, contexts, new, budgets):
            trajectory = trajectories[i]
            ids = list(ids)[:budget]
            trajectory.completion_ids += ids
            trajectory.tool_mask += [1] * len(ids)
            trajectory.turns += 1
            trajectory.messages.append(self._parse(ids, context, schemas[i]))

    def _parse(self, ids: list[int], context: list[int], schemas: list) -> dict:
        from trl.chat_template_utils import parse_response

        message = parse_response(self.tokenizer, ids, prefix=context, tools=schemas or None)
        if not message.get("tool_calls") and self.call_marker:
            text = self.tokenizer.decode(ids, skip_special_tokens=False)
            if self.call_marker in text:
                message["malformed_call"] = True
        return message

    @staticmethod
    def _pending_calls(trajectory: Trajectory) -> list[dict]:
        last = trajectory.messages[-1] if trajectory.messages else {}
        if last.get("role") != "assistant":
            return []
        if last.get("malformed_call"):
            return [{"malformed": True}]
        return last.get("tool_calls") or []

    def _run_calls(self, trajectory: Trajectory, tools: dict[str, Callable]) -> bool:
        """Run the pending calls and append their results; False (the rollout ends, cut) when they would not fit."""
        results = [self._call(call, tools) for call in self._pending_calls(trajectory)]
        trajectory.tool_calls += len(results)
        trajectory.tool_failures += sum(failed for _, _, failed in results)
        tool_messages = [{"role": "tool", "name": name, "content": content} for name, content, _ in results]
        suffix = self.tool_suffix_ids(tool_messages)
        too_long = len(trajectory.completion_ids) + len(suffix) >= self.max_completion_length
        if too_long or len(trajectory.prompt_ids) + len(trajectory.completion_ids) + len(suffix) >= self.max_model_len:
            trajectory.cut = True
            return False
        trajectory.completion_ids += suffix
        trajectory.tool_mask += [0] * len(suffix)
        trajectory.messages += tool_messages
        return True

    def _call(self, call: dict, tools: dict[str, Callable]) -> tuple[str, str, bool]:
        """(tool name, result text, whether the call failed)."""
        if call.get("malformed"):
            return "unknown", f"error: {MALFORMED_CALL}", True
        if call.get("type", "function") != "function":
            return "unknown", f"error: unsupported tool call type {call.get('type')!r}", True
        name, arguments = call["function"]["name"], call["function"].get("arguments") or {}
        if name not in tools:
            return name, f"error: unknown tool {name!r} (tools: {', '.join(sorted(tools)) or 'none'})", True
        try:
            if not isinstance(arguments, dict):
                raise TypeError(f"arguments must be named, got {arguments!r}")
            check_arguments(tools[name], arguments)
            result = tools[name](**arguments)
            if inspect.iscoroutine(result):
                result = self.run_async(result)
        except Exception as error:  # a tool may fail in any way; the model sees the error and goes on
            return name, f"error: {type(error).__name__}: {error}", True
        return name, str(result), False

    # --- rendering ----------------------------------------------------------------------------------

    def tool_suffix_ids(self, tool_messages: list[dict]) -> list[int]:
        """The ids the chat template renders after an assistant turn that made calls: the tool messages and the next
        assistant header. Found as the difference between a conversation rendered with and without them, after the
        end-of-sequence token that closes the assistant turn."""
        calls = [{"type": "function", "function": {"name": tool_messages[0]["name"], "arguments": {}}}]
        before = [{"role": "user", "content": "dummy"}, {"role": "assistant", "content": "", "tool_calls": calls}]
        render = dict(tokenize=True, return_dict=False, chat_template=self.chat_template, **self.chat_template_kwargs)
        prefix = self.tokenizer.apply_chat_template(before, add_generation_prompt=False, **render)
        full = self.tokenizer.apply_chat_template(before + tool_messages, add_generation_prompt=True, **render)
        ends = [i for i, token in enumerate(prefix) if token == self.tokenizer.eos_token_id]
        if ends:
            prefix = prefix[: ends[-1] + 1]  # templates that write a newline after the end of a turn
        if full[: len(prefix)] != prefix:
            raise ValueError("The chat template is not prefix-preserving: a tool turn changes how earlier turns render.")
        return full[len(prefix):]


def tool_call_marker(tokenizer, chat_template: str | None = None) -> str | None:
    """The text that opens a tool call in this chat template ("<tool_call>", "<call>", ...), found by rendering an
    assistant turn that writes some text and then calls a tool: what comes between the two. A completion that writes
    it but parses to no call made a malformed one."""
    content, name = "content_sentinel", "tool_name_sentinel"
    calls = [{"type": "function", "function": {"name": name, "arguments": {}}}]
    messages = [{"role": "user", "content": "dummy"}, {"role": "assistant", "content": content, "tool_calls": calls}]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, chat_template=chat_template)
    start, end = rendered.find(content), rendered.find(name)
    opening = rendered[start + len(content):end].split() if 0 <= start < end else []
    return opening[0] if opening else None


# JSON schema types -> the Python types an argument of that type may have (bool is not a number here).
_SCHEMA_TYPES = {"integer": (int,), "number": (int, float), "string": (str,), "boolean": (bool,), "array": (list,),
                 "object": (dict,)}


def check_arguments(tool: Callable, arguments: dict) -> None:
    """Raise TypeError when `arguments` do not fit `tool`'s schema (the one the model was shown): a name it does not
    take, one it needs that is missing, or a value of another type ("b='The'" for an integer). Python would accept
    some of these (3 * "The"), and the tool would answer nonsense instead of an error."""
    from transformers.utils import get_json_schema

    parameters = get_json_schema(tool)["function"].get("parameters", {})
    properties = parameters.get("properties", {})
    unknown = sorted(set(arguments) - set(properties))
    missing = [name for name in parameters.get("required", []) if name not in arguments]
    if unknown or missing:
        raise TypeError(f"{tool.__name__} takes {', '.join(properties) or 'no arguments'}"
                        + (f"; not {', '.join(unknown)}" if unknown else "") + (f"; missing {', '.join(missing)}" if missing else ""))
    for name, value in arguments.items():
        expected = _SCHEMA_TYPES.get(properties[name].get("type"))
        if expected and (not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected)):
            raise TypeError(f"argument {name} of {tool.__name__} must be {properties[name]['type']}, got {value!r}")


def prefix_preserving_template(processing_class) -> str | None:
    """None where the model's chat template is prefix-preserving, as the tool loop needs; else TRL's training
    template for it (`get_training_chat_template`), which GRPOTrainer substitutes in the same case."""
    from trl.chat_template_utils import get_training_chat_template, is_chat_template_prefix_preserving

    return None if is_chat_template_prefix_preserving(processing_class) else get_training_chat_template(processing_class)


def rollout_tools(tools: list[Callable], environment=None) -> tuple[dict[str, Callable], list[Callable]]:
    """A rollout's tools, by name and in order (the standalone tools, then its environment's methods)."""
    from rl_recipes.agents.tools import environment_tools

    listed = list(tools) + (environment_tools(environment) if environment is not None else [])
    return {tool.__name__: tool for tool in listed}, listed


def reset_environments(environments: list, rows: list[dict]) -> tuple[list[list[dict]], list[str | None]]:
    """Each row's environment reset with the row (TRL's contract), and the row's prompt with what `reset` returned
    appended to its last message; with the faults, one per row (None where the reset went well). A reset that
    raises leaves the prompt as it was: its rollout is not to be scored."""
    prompts, faults = [], []
    for row, environment in zip(rows, environments):
        prompt, fault = [dict(message) for message in row["prompt"]], None
        try:
            observation = environment.reset(**row)
        except Exception as error:  # the user's environment may fail in any way; the caller's policy decides
            fault = f"Environment {type(environment).__name__}.reset raised {type(error).__name__}: {error} " \
                    f"(prompt: {row['prompt']!r})"
            observation = None
        if isinstance(observation, str):
            prompt[-1]["content"] = prompt[-1]["content"] + observation
        prompts.append(prompt)
        faults.append(fault)
    return prompts, faults


def format_transcript(messages: list[dict]) -> str:
    """A transcript on one line: `name(k=v) -> result | ... | final answer`."""
    parts = []
    for message in messages:
        if message.get("role") == "tool":
            parts[-1] = f"{parts[-1]} -> {message['content']}" if parts else f"-> {message['content']}"
            continue
        calls = [f"{c['function']['name']}({', '.join(f'{k}={v}' for k, v in (c['function'].get('arguments') or {}).items())})"
                 for c in message.get("tool_calls") or []]
        parts += [text for text in (message.get("content") or "", *calls) if text]
    return " | ".join(parts)
