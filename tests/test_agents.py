"""The multi-turn tool loop, through scripted generations: calls, results, masks, faults and limits."""

import asyncio
import re
import threading
import time
from typing import Optional

import pytest
import trl.chat_template_utils  # noqa: F401  (imported now, so that the timed rollouts below do not include it)

from rl_recipes.agents.execution import ToolExecutor
from rl_recipes.agents.rollout import MALFORMED_CALL, ToolLoop, tool_call_marker, validate_arguments
from rl_recipes.tasks.calculator.tools import TOOLS, add, multiply
from rl_recipes.tiny_models.chat_format import train_tokenizer

QUESTION = [{"role": "user", "content": "What is 7 * 83 + 15?"}]


@pytest.fixture(scope="module")
def tokenizer():
    """The embedded tool model's tokenizer (chat template, response template, a token per number below 1000)."""
    return train_tokenizer(["What is 7 * 83 + 15? The answer is 596. I could not open it."] * 20, vocab_size=300)


def ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def scripted(tokenizer, *turns: str):
    """A `generate` that answers each round with the next scripted turn, for every row, and records its inputs."""
    rounds = iter(turns)
    seen = []

    def generate(batch, max_new_tokens):
        seen.append((batch, max_new_tokens))
        turn = next(rounds)
        return [ids(tokenizer, turn) for _ in batch]

    return generate, seen


def error(message: str) -> str:
    """A failed call's result, as TRL's GRPOTrainer writes it."""
    return str({"error": message})


def run(tokenizer, generate, tools=TOOLS, timeout=0.0, **limits):
    prompt = tokenizer.apply_chat_template(
        QUESTION, tools=TOOLS, add_generation_prompt=True, tokenize=True, return_dict=True
    )["input_ids"]
    limits.setdefault("call_marker", tool_call_marker(tokenizer))
    loop = ToolLoop(
        tokenizer=tokenizer,
        generate=generate,
        max_completion_length=limits.pop("max_completion_length", 200),
        max_model_len=limits.pop("max_model_len", 512),
        executor=ToolExecutor(timeout=timeout),
        **limits,
    )
    (trajectory,) = loop.run([prompt], [{tool.__name__: tool for tool in tools}], [list(tools)])
    return prompt, trajectory


def test_calls_run_their_tools_and_the_results_follow_as_masked_tokens_token_in_token_out(tokenizer):
    turns = ["<call>multiply a=7 b=83</call><|end|>", "<call>add a=581 b=15</call><|end|>", "The answer is 596.<|end|>"]
    generate, seen = scripted(tokenizer, *turns)
    prompt, trajectory = run(tokenizer, generate)
    assert [m["role"] for m in trajectory.messages] == ["assistant", "tool", "assistant", "tool", "assistant"]
    assert [m["content"] for m in trajectory.messages if m["role"] == "tool"] == ["581", "596"]
    assert trajectory.messages[0]["tool_calls"][0]["function"] == {"name": "multiply", "arguments": {"a": 7, "b": 83}}
    assert (trajectory.tool_calls, trajectory.tool_failures, trajectory.turns) == (2, 0, 3)
    # The model's tokens are kept as generated; what the template puts after a call is in between, masked out.
    model_tokens = [t for t, m in zip(trajectory.completion_ids, trajectory.tool_mask) if m]
    assert model_tokens == sum((ids(tokenizer, turn) for turn in turns), [])
    rendered = tokenizer.apply_chat_template(
        QUESTION + trajectory.messages, tools=TOOLS, tokenize=True, return_dict=True
    )
    assert (
        prompt + trajectory.completion_ids == rendered["input_ids"]
    )  # the conversation, exactly as the template writes it
    tool_tokens = [t for t, m in zip(trajectory.completion_ids, trajectory.tool_mask) if not m]
    assert tokenizer.decode(tool_tokens) == "<|tool|>581<|end|><|assistant|><|tool|>596<|end|><|assistant|>"
    # Each round continues every rollout from all it has so far, within what is left of its budget.
    assert seen[1] == (
        [prompt + trajectory.completion_ids[: len(seen[1][0][0]) - len(prompt)]],
        200 - (len(seen[1][0][0]) - len(prompt)),
    )


@pytest.mark.parametrize(
    "call, result",
    [
        ("<call>divide a=7 b=83</call><|end|>", error("unknown tool 'divide' (tools: add, multiply, subtract)")),
        ("<call>multiply a=7 c=83</call><|end|>", error("TypeError: multiply takes a, b; not c; missing b")),
        (
            "<call>multiply a=7 b=The</call><|end|>",
            error("TypeError: argument b of multiply must be integer, got 'The'"),
        ),
        ("<call></call><|end|>", error(MALFORMED_CALL)),
        ("<call>multiply a=7 b=83<|end|>", error("TypeError: argument b of multiply must be integer, got '83<|end|>'")),
    ],
    ids=["unknown tool", "wrong argument", "wrong type", "no tool name", "unclosed call"],
)
def test_a_bad_call_gets_an_error_result_counts_as_failed_and_the_rollout_goes_on(tokenizer, call, result):
    generate, _ = scripted(tokenizer, call, "The answer is 596.<|end|>")
    _, trajectory = run(tokenizer, generate)
    assert trajectory.messages[1] == {"role": "tool", "name": trajectory.messages[1]["name"], "content": result}
    assert (trajectory.tool_calls, trajectory.tool_failures) == (1, 1)
    assert trajectory.messages[-1]["content"] == "The answer is 596."


def broken(a: int) -> int:
    """A tool with a bug.

    Args:
        a: A number.
    """
    raise KeyError("cache miss")


def stuck(a: int) -> int:
    """A tool that does not return in time.

    Args:
        a: A number.
    """
    time.sleep(5)
    return a


async def async_add(a: int, b: int) -> int:
    """Add, as a remote service would.

    Args:
        a: The first number.
        b: The second number.
    """
    await asyncio.sleep(0)
    return a + b


@pytest.mark.parametrize(
    "tool, timeout, result, failed",
    [
        (broken, 0, error("KeyError: 'cache miss'"), True),
        (stuck, 0.2, error("TimeoutError: stuck did not return within 0.2 s"), True),
        (async_add, 0, "8", False),
        (async_add, 5, "8", False),
    ],
    ids=["raises", "does not return", "async", "async with a time limit"],
)
def test_a_tool_that_raises_or_hangs_is_an_error_result_and_async_tools_are_awaited(
    tokenizer, tool, timeout, result, failed
):
    arguments = "a=3" if tool.__name__ != "async_add" else "a=3 b=5"
    generate, _ = scripted(tokenizer, f"<call>{tool.__name__} a={arguments[2:]}</call><|end|>", "Done.<|end|>")
    started = time.monotonic()
    _, trajectory = run(tokenizer, generate, tools=[tool], timeout=timeout)
    assert time.monotonic() - started < 3
    assert trajectory.messages[1]["content"] == result and trajectory.tool_failures == int(failed)
    assert trajectory.messages[-1]["content"] == "Done."


def test_results_that_would_overflow_the_budget_are_not_appended_and_the_rollout_ends_cut(tokenizer):
    turn = "<call>multiply a=7 b=83</call><|end|>"
    generate, seen = scripted(tokenizer, turn, "The answer is 581.<|end|>")
    _, trajectory = run(tokenizer, generate, max_completion_length=len(ids(tokenizer, turn)) + 2)
    assert trajectory.cut and len(seen) == 1 and trajectory.messages[-1]["role"] == "assistant"
    assert trajectory.completion_ids == ids(tokenizer, turn) and all(trajectory.tool_mask)
    # The model's context counts too.
    generate, seen = scripted(tokenizer, turn, "The answer is 581.<|end|>")
    prompt, trajectory = run(tokenizer, generate, max_model_len=len(ids(tokenizer, turn)) + 30)
    assert trajectory.cut and len(seen) == 1


def test_a_turn_cut_by_the_budget_is_kept_to_the_budget(tokenizer):
    turn = "<call>multiply a=7 b=83</call><|end|>"
    generate, seen = scripted(tokenizer, turn, "The answer is 581, and more words.<|end|>")
    budget = len(ids(tokenizer, turn)) + len(ids(tokenizer, "<|tool|>581<|end|><|assistant|>")) + 3
    _, trajectory = run(tokenizer, generate, max_completion_length=budget)
    assert seen[1][1] == 3 and len(trajectory.completion_ids) == budget  # asked for 3 more tokens, and kept 3


def test_max_tool_calling_iterations_caps_the_rounds(tokenizer):
    call = "<call>add a=1 b=2</call><|end|>"
    generate, seen = scripted(tokenizer, call, call, call, call)
    _, trajectory = run(tokenizer, generate, max_iterations=2)
    assert len(seen) == 3 and trajectory.turns == 3 and trajectory.cut  # the third turn's call was left unanswered
    assert trajectory.tool_calls == 2


def test_the_calls_opening_marker_is_read_from_the_chat_template(tokenizer):
    assert tool_call_marker(tokenizer) == "<call>"
    from tests.stand_ins import CHATML_TEMPLATE  # a template without tool calls has none

    tokenizer.chat_template, saved = CHATML_TEMPLATE, tokenizer.chat_template
    try:
        assert tool_call_marker(tokenizer) is None
    finally:
        tokenizer.chat_template = saved


def test_add_and_multiply_say_what_they_do():
    assert add(2, 3) == 5 and multiply(4, 6) == 24


# --- tools that users bring: concurrency, time limits, results, cut rollouts ---------------------------------------


def per_row(tokenizer, turns_of):
    """A `generate` whose turn for each row is `turns_of(row_text, round)`, decided from the row's own context."""
    rounds = []

    def generate(batch, max_new_tokens):
        rounds.append(len(batch))
        return [ids(tokenizer, turns_of(tokenizer.decode(row), len(rounds) - 1)) for row in batch]

    return generate, rounds


def run_batch(tokenizer, generate, prompts, tools, executor=None, **settings):
    """Roll out `prompts` (user messages), every rollout offered `tools`."""
    prompt_ids = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": p}], tools=tools, add_generation_prompt=True, tokenize=True, return_dict=True
        )["input_ids"]
        for p in prompts
    ]
    settings.setdefault("call_marker", tool_call_marker(tokenizer))
    loop = ToolLoop(
        tokenizer=tokenizer,
        generate=generate,
        max_completion_length=settings.pop("max_completion_length", 200),
        max_model_len=512,
        executor=executor or ToolExecutor(),
        **settings,
    )
    by_name = {tool.__name__: tool for tool in tools}
    return loop.run(prompt_ids, [by_name] * len(prompts), [list(tools)] * len(prompts))


IN_FLIGHT = {"now": 0, "most": 0, "lock": threading.Lock()}


def slow_square(a: int) -> int:
    """Square a number, slowly, as a remote service would; the smaller numbers take longer.

    Args:
        a: A number.
    """
    with IN_FLIGHT["lock"]:
        IN_FLIGHT["now"] += 1
        IN_FLIGHT["most"] = max(IN_FLIGHT["most"], IN_FLIGHT["now"])
    time.sleep(0.2 - 0.02 * a)
    with IN_FLIGHT["lock"]:
        IN_FLIGHT["now"] -= 1
    return a * a


def most_in_flight(run_it) -> int:
    IN_FLIGHT["most"] = 0
    result = run_it()
    return IN_FLIGHT["most"], result


def test_calls_of_different_rollouts_run_concurrently_and_each_result_lands_in_its_rollout_in_call_order(tokenizer):
    # Eight rollouts, each calling twice in one turn; the calls of later rollouts finish first.
    def turns(text, round_):
        a = int(text.split("Square ")[1].split("<")[0]) if round_ == 0 else None
        return (
            f"<call>slow_square a={a}</call><call>slow_square a={a + 1}</call><|end|>"
            if round_ == 0
            else "Done.<|end|>"
        )

    prompts = [f"Square {a}" for a in range(8)]
    # All eight rollouts' first calls at once (a rollout's second call waits for its first).
    most, trajectories = most_in_flight(
        lambda: run_batch(tokenizer, per_row(tokenizer, turns)[0], prompts, [slow_square])
    )
    assert most == 8
    for a, trajectory in enumerate(trajectories):
        assert [m["content"] for m in trajectory.messages if m["role"] == "tool"] == [str(a * a), str((a + 1) ** 2)]
    # The bound holds, and one call at a time gives the same transcripts.
    for bound in (3, 1):
        most, bounded = most_in_flight(
            lambda bound=bound: run_batch(
                tokenizer,
                per_row(tokenizer, turns)[0],
                prompts,
                [slow_square],
                executor=ToolExecutor(max_parallel_calls=bound),
            )
        )
        assert most == bound
        assert [t.messages for t in bounded] == [t.messages for t in trajectories]
        assert [t.completion_ids for t in bounded] == [t.completion_ids for t in trajectories]


class Counter:
    """Counts its calls, as an environment's state would."""

    calls = 0

    @classmethod
    def count(cls, a: int) -> str:
        """Count a call.

        Args:
            a: Anything.
        """
        cls.calls += 1
        return "counted, and a long result that does not fit the budget " * (a == 1)


def test_a_rollout_cut_with_its_call_pending_never_runs_the_call_again(tokenizer):
    # Rollout "a=1" gets a result too long for the budget, so it ends cut; rollout "a=2" goes on for three rounds.
    Counter.calls = 0
    generate, _ = per_row(
        tokenizer,
        lambda text, r: (
            "<call>count a=1</call><|end|>"
            if "Cut" in text
            else ("<call>count a=2</call><|end|>" if r < 3 else "Done.<|end|>")
        ),
    )
    cut, going_on = run_batch(tokenizer, generate, ["Cut", "Go"], [Counter.count], max_completion_length=60)
    assert cut.cut and cut.tool_calls == 1 and not going_on.cut and going_on.tool_calls == 3
    assert Counter.calls == 4  # once for the cut rollout, three times for the other


def uses_signals(a: int) -> int:
    """Guard a query with an alarm, as TRL's SQL agent example does.

    Args:
        a: A number.
    """
    import signal

    signal.signal(signal.SIGALRM, lambda signum, frame: None)
    signal.alarm(5)
    try:
        return a
    finally:
        signal.alarm(0)


def test_a_tool_that_needs_the_main_thread_is_named_and_runs_in_it_with_one_call_at_a_time_and_no_time_limit(tokenizer):
    turns = ("<call>uses_signals a=3</call><|end|>", "Done.<|end|>")
    _, trajectory = run(tokenizer, scripted(tokenizer, *turns)[0], tools=[uses_signals])
    assert trajectory.main_thread_tool == "uses_signals" and trajectory.tool_failures == 1
    (trajectory,) = run_batch(
        tokenizer,
        scripted(tokenizer, *turns)[0],
        ["Go"],
        [uses_signals],
        executor=ToolExecutor(max_parallel_calls=1, timeout=0),
    )
    assert trajectory.messages[1]["content"] == "3" and trajectory.main_thread_tool is None


async def blocking_async(a: int) -> int:
    """An async tool that blocks its event loop (a synchronous client inside async def).

    Args:
        a: A number.
    """
    time.sleep(2)
    return a


def test_an_async_tool_that_blocks_is_cut_at_its_time_limit(tokenizer):
    started = time.monotonic()
    _, trajectory = run(
        tokenizer,
        scripted(tokenizer, "<call>blocking_async a=3</call><|end|>", "Done.<|end|>")[0],
        tools=[blocking_async],
        timeout=0.3,
    )
    assert time.monotonic() - started < 1.5
    assert trajectory.messages[1]["content"] == error("TimeoutError: blocking_async did not return within 0.3 s")


def rows(limit: int) -> list:
    """Rows of a table, as a database client returns them.

    Args:
        limit: How many rows.
    """
    return [("BRCA1", 672), ("TP53", 7157)][:limit]


def test_a_list_result_reaches_the_transcript_as_the_tool_returned_it_and_the_model_sees_it_rendered(tokenizer):
    _, trajectory = run(
        tokenizer, scripted(tokenizer, "<call>rows limit=2</call><|end|>", "Done.<|end|>")[0], tools=[rows]
    )
    assert trajectory.messages[1]["content"] == [("BRCA1", 672), ("TP53", 7157)]
    assert "[('BRCA1', 672), ('TP53', 7157)]" in tokenizer.decode(trajectory.completion_ids)


def test_with_trls_settings_a_malformed_call_ends_the_rollout_and_errors_read_as_trls(tokenizer):
    _, trajectory = run(tokenizer, scripted(tokenizer, "<call></call><|end|>", "Never.<|end|>")[0], call_marker=None)
    assert (trajectory.turns, trajectory.tool_calls, trajectory.cut) == (1, 0, False)
    assert set(trajectory.messages[0]) <= {"role", "content", "tool_calls"}  # nothing internal in the transcript
    for call, result in [
        ("<call>divide a=7 b=83</call><|end|>", error("Tool divide not found.")),
        ("<call>broken a=3</call><|end|>", error("'cache miss'")),
    ]:
        _, trajectory = run(
            tokenizer, scripted(tokenizer, call, "Done.<|end|>")[0], tools=[*TOOLS, broken], error_messages="trl"
        )
        assert trajectory.messages[1]["content"] == result


def test_a_malformed_call_under_the_default_leaves_no_internal_key_in_the_transcript(tokenizer):
    _, trajectory = run(tokenizer, scripted(tokenizer, "<call></call><|end|>", "Done.<|end|>")[0])
    assert trajectory.tool_failures == 1
    assert all(set(message) <= {"role", "content", "tool_calls", "name"} for message in trajectory.messages)


def scale(
    x: int | float,
    factor: Optional[int] = None,
    unit: str = "m",
    path: list[int] | None = None,
    options: dict | None = None,
) -> str:
    """Scale a length.

    Args:
        x: The length.
        factor: A factor, or none.
        unit: The unit (choices: ["m", "km"])
        path: Steps to take.
        options: More settings.
    """
    return f"{x * (factor or 1)} {unit}"


@pytest.mark.parametrize(
    "arguments",
    [
        {"x": 2.5},
        {"x": 3},
        {"x": 3, "factor": None},
        {"x": 3, "factor": 2, "unit": "km"},
        {"x": 1, "path": [1, 2]},
        {"x": 1, "path": None},
        {"x": 1, "options": {"a": [1]}},
    ],
)
def test_arguments_the_json_schema_allows_pass_the_check(arguments):
    validate_arguments(scale, arguments)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"x": "far"}, "argument x of scale must be integer or number, got 'far'"),
        ({"x": True}, "argument x of scale must be integer or number, got True"),
        ({"x": 1, "unit": "mile"}, "argument unit of scale must be m or km, got 'mile'"),
        ({"x": 1, "path": [1, "two"]}, "argument path of scale must be array or null, got [1, 'two']"),
        ({"x": 1, "factor": 1.5}, "argument factor of scale must be integer or null, got 1.5"),
    ],
)
def test_arguments_the_json_schema_does_not_allow_fail_the_check(arguments, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        validate_arguments(scale, arguments)


def test_a_union_typed_call_parsed_from_the_models_text_runs(tokenizer):
    _, trajectory = run(
        tokenizer,
        scripted(tokenizer, "<call>scale x=2.5 factor=None unit=km</call><|end|>", "Done.<|end|>")[0],
        tools=[scale],
    )
    assert trajectory.messages[1]["content"] == "2.5 km" and trajectory.tool_failures == 0


async def slow_async(a: int) -> int:
    """An async tool that awaits longer than its limit.

    Args:
        a: A number.
    """
    await asyncio.sleep(5)
    return a


@pytest.mark.parametrize("tool, arguments", [(stuck, {"a": 3}), (slow_async, {"a": 3})], ids=["sync", "async"])
def test_the_time_limit_that_wraps_grpos_tools_keeps_the_tool_as_the_model_sees_it_and_cuts_it(tool, arguments):
    from transformers.utils import get_json_schema

    from rl_recipes.agents.tools import with_time_limit

    limited = with_time_limit(tool, 0.3)
    assert get_json_schema(limited) == get_json_schema(tool) and limited.__name__ == tool.__name__
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=f"{tool.__name__} did not return within 0.3 s"):
        result = limited(**arguments)
        if asyncio.iscoroutine(result):
            asyncio.run(result)
    assert time.monotonic() - started < 1.5
    assert with_time_limit(add, 0.3)(a=2, b=3) == 5


def test_a_result_json_has_no_type_for_is_written_as_text_in_the_run_files():
    import datetime
    import json

    from rl_recipes.saving import strict_json

    transcript = [{"role": "tool", "name": "rows", "content": [("BRCA1", datetime.date(2026, 12, 4), float("nan"))]}]
    assert json.loads(strict_json({"completion": transcript}))["completion"][0]["content"] == [
        ["BRCA1", "2026-12-04", None]
    ]
