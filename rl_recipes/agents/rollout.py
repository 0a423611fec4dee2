"""Multi-turn rollouts with tools: generate, parse the calls, run them, append the results, generate again.

A rollout (a trajectory) starts from its prompt's token ids. Each round, every rollout whose last
assistant turn called a tool gets the calls run (all rollouts' calls concurrently, each rollout's in
order: `rl_recipes.agents.execution`) and their results appended, and all of them generate their next
turn together, in one batch. A rollout ends when its last turn calls nothing, when `max_iterations`
rounds have run, or when the next results would not fit; in the last two cases it ends cut, with a
call left unanswered, and is never run again.

Token in, token out: the model's own tokens are kept exactly as generated, and what follows a call
(the tool turn and the next assistant header) is appended as the ids the chat template renders for
it, found by rendering a conversation with and without the tool messages (TRL's
`GRPOTrainer._get_tool_suffix_ids` does the same); nothing the model wrote is re-tokenised.
`tool_mask` is 1 on the model's tokens and 0 on the appended ones, which a trainer keeps out of
every log-probability it optimises.

Results are TRL's (`GRPOTrainer._tool_call_loop`, TRL 1.16): a tool message's content is what the
tool returned if that is a list, else its `str`; the chat template renders it for the model, and
rewards receive the message as it is. Faults are results, not crashes: an unknown tool, a tool that
raises or times out, and arguments the tool's schema does not allow (`check_arguments`) each give the
result `{'error': message}` (as TRL writes it) and count as a failed call. Three deliberate
differences from TRL, each a setting with TRL's behaviour one value away:

- `check_arguments`: a call whose arguments the tool's schema does not allow gets an error result
  without the tool running; TRL calls the tool with them;

- `error_messages`: "detailed" names the exception type and, for an unknown tool, the tools there are
  (`{'error': "KeyError: 'cache miss'"}`); "trl" is TRL's text (`{'error': "'cache miss'"}`,
  `{'error': 'Tool divide not found.'}`);
- `call_marker`: where set, a turn that writes the call's opening marker but parses to no call made a
  malformed call, which gets an error result, and the rollout goes on; None (TRL's behaviour) reads
  such a turn as text, which ends the rollout.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from rl_recipes.agents.execution import Outcome, ToolCall, ToolExecutor, needs_main_thread

MALFORMED_CALL = "malformed tool call: the call's opening marker was written, but no call could be read"
ERROR_MESSAGES = ("detailed", "trl")  # the settings of `error_messages`


class CallRefused(Exception):
    """A call that cannot run (an unknown tool, arguments its schema does not allow, a malformed call): its result is
    an error without the tool being called."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name, self.message = name, message


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
    malformed_turn: bool = False  # the last turn wrote the call marker but no call could be read
    main_thread_tool: str | None = None  # a tool that failed for want of the main thread (signals)

    @property
    def model_tokens(self) -> int:
        return sum(self.tool_mask)


@dataclass
class ToolLoop:
    """What a batch of rollouts needs besides the model: the tokenizer and chat template, the limits, and how
    calls run and fail (see the module docstring).

    `generate(batch_ids, max_new_tokens)` returns one continuation per row (new tokens only, cut after
    the first end-of-sequence token).
    """

    tokenizer: object
    generate: Callable[[list[list[int]], int], list[list[int]]]
    max_completion_length: int
    max_model_len: int
    max_iterations: int | None = None
    chat_template: str | None = None
    chat_template_kwargs: dict = field(default_factory=dict)
    executor: ToolExecutor = field(default_factory=ToolExecutor)
    call_marker: str | None = None
    error_messages: str = "detailed"
    check_arguments: bool = True

    def run(
        self,
        prompt_ids: list[list[int]],
        tools: list[dict[str, Callable]],
        schemas: list[list],
        first_turn: list[list[int]] | None = None,
    ) -> list[Trajectory]:
        """Roll out every prompt with its own tools (name -> callable) and their schemas (for parsing). `first_turn`,
        when given, is each prompt's first assistant turn, already generated."""
        trajectories = [Trajectory(list(ids)) for ids in prompt_ids]
        self._extend(trajectories, list(range(len(trajectories))), schemas, first_turn)
        rounds = 0
        while self.max_iterations is None or rounds < self.max_iterations:
            # A rollout offered no tools makes no calls (as in GRPOTrainer, whose loop then does not run).
            calling = [i for i, t in enumerate(trajectories) if tools[i] and not t.cut and self._pending_calls(t)]
            if not calling:
                break
            continuing = self._run_round(trajectories, calling, tools)
            if not continuing:
                break
            self._extend(trajectories, continuing, schemas)
            rounds += 1
        for trajectory, offered in zip(trajectories, tools):
            trajectory.cut = trajectory.cut or bool(offered and self._pending_calls(trajectory))
        return trajectories

    # --- one round -----------------------------------------------------------------------------

    def _extend(
        self, trajectories: list[Trajectory], rows: list[int], schemas: list[list], new: list[list[int]] | None = None
    ) -> None:
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
            message, trajectory.malformed_turn = self._parse(ids, context, schemas[i])
            trajectory.messages.append(message)

    def _parse(self, ids: list[int], context: list[int], schemas: list) -> tuple[dict, bool]:
        """The turn as a message, and whether it is a malformed call (the call marker written, no call read)."""
        from trl.chat_template_utils import parse_response

        message = parse_response(self.tokenizer, ids, prefix=context, tools=schemas or None)
        malformed = (
            not message.get("tool_calls")
            and self.call_marker is not None
            and self.call_marker in self.tokenizer.decode(ids, skip_special_tokens=False)
        )
        return message, malformed

    @staticmethod
    def _pending_calls(trajectory: Trajectory) -> list[dict]:
        last = trajectory.messages[-1] if trajectory.messages else {}
        if last.get("role") != "assistant":
            return []
        if trajectory.malformed_turn:
            return [{"malformed": True}]
        return last.get("tool_calls") or []

    def _run_round(
        self, trajectories: list[Trajectory], calling: list[int], tools: list[dict[str, Callable]]
    ) -> list[int]:
        """Run the pending calls of the rollouts `calling`, all together, and append their results; the rollouts whose
        results fit go on (returned), the others end cut."""
        prepared = [[self._prepare(call, tools[i]) for call in self._pending_calls(trajectories[i])] for i in calling]
        runnable = [[call for call in calls if isinstance(call, ToolCall)] for calls in prepared]
        outcomes = [iter(rollout) for rollout in self.executor.run(runnable)]
        continuing = []
        for i, calls, ran in zip(calling, prepared, outcomes):
            trajectory, tool_messages = trajectories[i], []
            for call in calls:
                outcome = next(ran) if isinstance(call, ToolCall) else Outcome(error=call)
                content, failed = self._result(call, outcome)
                tool_messages.append({"role": "tool", "name": call.name, "content": content})
                trajectory.tool_failures += failed
                if needs_main_thread(outcome.error) and trajectory.main_thread_tool is None:
                    trajectory.main_thread_tool = call.name
            trajectory.tool_calls += len(calls)
            if self._append_results(trajectory, tool_messages):
                continuing.append(i)
        return continuing

    def _append_results(self, trajectory: Trajectory, tool_messages: list[dict]) -> bool:
        """Append the results and what follows them; False (the rollout ends, cut) when they would not fit."""
        suffix = self.tool_suffix_ids(tool_messages)
        too_long = len(trajectory.completion_ids) + len(suffix) >= self.max_completion_length
        if too_long or len(trajectory.prompt_ids) + len(trajectory.completion_ids) + len(suffix) >= self.max_model_len:
            trajectory.cut = True
            return False
        trajectory.completion_ids += suffix
        trajectory.tool_mask += [0] * len(suffix)
        trajectory.messages += tool_messages
        return True

    def _prepare(self, call: dict, tools: dict[str, Callable]) -> "ToolCall | CallRefused":
        """The call, ready to run; or why it cannot run."""
        trl = self.error_messages == "trl"
        if call.get("malformed"):
            return CallRefused("unknown", MALFORMED_CALL)
        if call.get("type", "function") != "function":
            return CallRefused(
                "unknown",
                f"Unsupported tool call type: {call.get('type')}"
                if trl
                else f"unsupported tool call type {call.get('type')!r}",
            )
        name, arguments = call["function"]["name"], call["function"].get("arguments") or {}
        if name not in tools:
            return CallRefused(
                name,
                f"Tool {name} not found."
                if trl
                else f"unknown tool {name!r} (tools: {', '.join(sorted(tools)) or 'none'})",
            )
        if not isinstance(arguments, dict):
            return CallRefused(name, self._error_text(TypeError(f"arguments must be named, got {arguments!r}")))
        if self.check_arguments:
            try:
                validate_arguments(tools[name], arguments)
            except TypeError as error:
                return CallRefused(name, self._error_text(error))
        return ToolCall(name, tools[name], arguments)

    def _result(self, call: "ToolCall | CallRefused", outcome: Outcome) -> tuple[object, bool]:
        """(the tool message's content, whether the call failed), as TRL writes them."""
        if isinstance(outcome.error, CallRefused):
            return str({"error": outcome.error.message}), True
        if outcome.error is not None:
            return str({"error": self._error_text(outcome.error)}), True
        return tool_message_content(outcome.value), False

    def _error_text(self, error: BaseException) -> str:
        return str(error) if self.error_messages == "trl" else f"{type(error).__name__}: {error}"

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
            raise ValueError(
                "The chat template is not prefix-preserving: a tool turn changes how earlier turns render."
            )
        return full[len(prefix) :]


def tool_message_content(value):
    """A tool's result as its message carries it, to the chat template and the rewards: a list as it is (content
    blocks, or rows), anything else as its `str` (TRL's rule)."""
    return value if isinstance(value, list) else str(value)


def tool_call_marker(tokenizer, chat_template: str | None = None) -> str | None:
    """The text that opens a tool call in this chat template ("<tool_call>", "<call>", ...), found by rendering an
    assistant turn that writes some text and then calls a tool: what comes between the two. A completion that writes
    it but parses to no call made a malformed one."""
    content, name = "content_sentinel", "tool_name_sentinel"
    calls = [{"type": "function", "function": {"name": name, "arguments": {}}}]
    messages = [{"role": "user", "content": "dummy"}, {"role": "assistant", "content": content, "tool_calls": calls}]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, chat_template=chat_template)
    start, end = rendered.find(content), rendered.find(name)
    opening = rendered[start + len(content) : end].split() if 0 <= start < end else []
    return opening[0] if opening else None


def validate_arguments(tool: Callable, arguments: dict) -> None:
    """Raise TypeError when `arguments` do not fit `tool`'s JSON schema, the one the model was shown (transformers'
    `get_json_schema`): a name it does not take, one it needs that is missing, or a value the schema does not allow
    ("b='The'" for an integer, a string outside an enum). JSON-schema meaning throughout (the `jsonschema` library):
    unions, lists, enums and nested objects as the schema writes them, an `Optional` argument may be None, and a
    boolean is not a number. Python would accept some bad calls (3 * "The"), and the tool would answer nonsense."""
    import jsonschema
    from transformers.utils import get_json_schema

    parameters = get_json_schema(tool)["function"].get("parameters", {})
    properties = parameters.get("properties", {})
    unknown = sorted(set(arguments) - set(properties))
    missing = [name for name in parameters.get("required", []) if name not in arguments]
    if unknown or missing:
        raise TypeError(
            f"{tool.__name__} takes {', '.join(properties) or 'no arguments'}"
            + (f"; not {', '.join(unknown)}" if unknown else "")
            + (f"; missing {', '.join(missing)}" if missing else "")
        )
    for name, value in arguments.items():
        schema = standard_json_schema(properties[name])
        if not jsonschema.Draft202012Validator(schema).is_valid(value):
            expected = schema.get("enum") or schema.get("type") or "the schema's type"
            expected = " or ".join(map(str, expected)) if isinstance(expected, list) else expected
            raise TypeError(f"argument {name} of {tool.__name__} must be {expected}, got {value!r}")


def standard_json_schema(schema):
    """transformers' schema in standard JSON Schema: its OpenAPI-style `nullable: true` (an `Optional` argument)
    becomes "null" among the allowed types, at every depth."""
    if isinstance(schema, list):
        return [standard_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: standard_json_schema(value) for key, value in schema.items()}
    if schema.pop("nullable", False):
        types = schema.get("type")
        if types is not None:
            types = types if isinstance(types, list) else [types]
            schema["type"] = [*types, "null"] if "null" not in types else types
        if "enum" in schema and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
    return schema


def prefix_preserving_template(processing_class) -> str | None:
    """None where the model's chat template is prefix-preserving, as the tool loop needs; else TRL's training
    template for it (`get_training_chat_template`), which GRPOTrainer substitutes in the same case."""
    from trl.chat_template_utils import get_training_chat_template, is_chat_template_prefix_preserving

    return (
        None if is_chat_template_prefix_preserving(processing_class) else get_training_chat_template(processing_class)
    )


def rollout_tools(tools: list[Callable], environment=None) -> tuple[dict[str, Callable], list[Callable]]:
    """A rollout's tools, by name and in order (the standalone tools, then its environment's methods)."""
    from rl_recipes.agents.tools import environment_tools

    listed = list(tools) + (environment_tools(environment) if environment is not None else [])
    return {tool.__name__: tool for tool in listed}, listed


def reset_environments(
    environments: list, rows: list[dict], prompts: list[list[dict]]
) -> tuple[list[list[dict]], list[str | None]]:
    """Each row's environment reset with the row (TRL's contract), and the row's prompt with what `reset` returned
    appended to its last message (a string, or content blocks, as in GRPOTrainer); with the faults, one per row (None
    where the reset went well). A reset that raises leaves the prompt as it was: its rollout is not to be scored."""
    observed, faults = [], []
    for row, prompt, environment in zip(rows, prompts, environments):
        fault = None
        try:
            observation = environment.reset(**row)
        except Exception as error:  # the user's environment may fail in any way; the caller's policy decides
            fault = (
                f"Environment {type(environment).__name__}.reset raised {type(error).__name__}: {error} "
                f"(prompt: {row.get('prompt')!r})"
            )
            observation = None
        if observation is not None:
            content = prompt[-1]["content"]
            if isinstance(observation, list) and isinstance(content, str):
                content = [{"type": "text", "text": content}]
            if isinstance(observation, str) and isinstance(content, list):
                observation = [{"type": "text", "text": observation}]
            prompt = [*prompt[:-1], {**prompt[-1], "content": content + observation}]
        observed.append([dict(message) for message in prompt])
        faults.append(fault)
    return observed, faults


def format_transcript(messages: list[dict]) -> str:
    """A transcript on one line: `name(k=v) -> result | ... | final answer`."""
    parts = []
    for message in messages:
        if message.get("role") == "tool":
            parts[-1] = f"{parts[-1]} -> {message['content']}" if parts else f"-> {message['content']}"
            continue
        calls = [
            f"{c['function']['name']}({', '.join(f'{k}={v}' for k, v in (c['function'].get('arguments') or {}).items())})"
            for c in message.get("tool_calls") or []
        ]
        parts += [text for text in (message.get("content") or "", *calls) if text]
    return " | ".join(parts)
