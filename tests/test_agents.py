"""The multi-turn tool loop, through scripted generations: calls, results, masks, faults and limits."""

import asyncio
import time

import pytest

from rl_recipes.agents.rollout import MALFORMED_CALL, ToolLoop, tool_call_marker
from rl_recipes.agents.tools import with_time_limit
from rl_recipes.tool_tasks.calculator import TOOLS, add, multiply
from rl_recipes.tool_tasks.chat_format import train_tokenizer

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


def run(tokenizer, generate, tools=TOOLS, **limits):
    prompt = tokenizer.apply_chat_template(QUESTION, tools=TOOLS, add_generation_prompt=True, tokenize=True,
                                           return_dict=True)["input_ids"]
    loop = ToolLoop(tokenizer=tokenizer, generate=generate, max_completion_length=limits.pop("max_completion_length", 200),
                    max_model_len=limits.pop("max_model_len", 512), call_marker=tool_call_marker(tokenizer), **limits)
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
    rendered = tokenizer.apply_chat_template(QUESTION + trajectory.messages, tools=TOOLS, tokenize=True, return_dict=True)
    assert prompt + trajectory.completion_ids == rendered["input_ids"]  # the conversation, exactly as the template writes it
    tool_tokens = [t for t, m in zip(trajectory.completion_ids, trajectory.tool_mask) if not m]
    assert tokenizer.decode(tool_tokens) == "<|tool|>581<|end|><|assistant|><|tool|>596<|end|><|assistant|>"
    # Each round continues every rollout from all it has so far, within what is left of its budget.
    assert seen[1] == ([prompt + trajectory.completion_ids[: len(seen[1][0][0]) - len(prompt)]], 200 - (len(seen[1][0][0]) - len(prompt)))


@pytest.mark.parametrize(
    "call, error",
    [
        ("<call>divide a=7 b=83</call><|end|>", "error: unknown tool 'divide' (tools: add, multiply, subtract)"),
        ("<call>multiply a=7 c=83</call><|end|>", "error: TypeError: multiply takes a, b; not c; missing b"),
        ("<call>multiply a=7 b=The</call><|end|>", "error: TypeError: argument b of multiply must be integer, got 'The'"),
        ("<call></call><|end|>", f"error: {MALFORMED_CALL}"),
        ("<call>multiply a=7 b=83<|end|>", "error: TypeError: argument b of multiply must be integer, got '83<|end|>'"),
    ],
    ids=["unknown tool", "wrong argument", "wrong type", "no tool name", "unclosed call"],
)
def test_a_bad_call_gets_an_error_result_counts_as_failed_and_the_rollout_goes_on(tokenizer, call, error):
    generate, _ = scripted(tokenizer, call, "The answer is 596.<|end|>")
    _, trajectory = run(tokenizer, generate)
    assert trajectory.messages[1] == {"role": "tool", "name": trajectory.messages[1]["name"], "content": error}
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
    "tool, result, failed",
    [
        (broken, "error: KeyError: 'cache miss'", True),
        (with_time_limit(stuck, 0.2), "error: TimeoutError: stuck did not return within 0.2 s", True),
        (async_add, "8", False),
        (with_time_limit(async_add, 5), "8", False),
    ],
    ids=["raises", "does not return", "async", "async with a time limit"],
)
def test_a_tool_that_raises_or_hangs_is_an_error_result_and_async_tools_are_awaited(tokenizer, tool, result, failed):
    arguments = "a=3" if tool.__name__ != "async_add" else "a=3 b=5"
    generate, _ = scripted(tokenizer, f"<call>{tool.__name__} a={arguments[2:]}</call><|end|>", "Done.<|end|>")
    started = time.monotonic()
    _, trajectory = run(tokenizer, generate, tools=[tool])
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
