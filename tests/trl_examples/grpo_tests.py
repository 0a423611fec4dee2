# Copyright 2020-2026 The HuggingFace Team. All rights reserved.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""The tools, environments and rewards of TRL's own GRPOTrainer tool tests, as TRL wrote them.

Source: huggingface/trl, `tests/test_grpo_trainer.py` (commit f2cd57710ae345ea6428ae95363267fcf38a3dc8):

- `multiply_tool`, `async_multiply_tool`: module level there, used by `test_train_with_tools` (parametrized over the
  two) and `test_train_with_malformed_tool_calls`;
- `DummyEnvironment`: `test_train_with_environment_owned_reward`'s (the counter of
  `test_train_with_environment_factory`, plus `get_reward`);
- `CounterEnvironment`, `EchoEnvironment`: `test_train_with_multiple_environments`'s; what they record
  (`reset_kwargs_seen`, `tool_calls_made`), local variables of that test, are module variables here;
- `GuessTheWordEnvironment`, `reward_len`: `test_train_with_environment_owned_data`'s.

TRL defines the environments inside its test methods; here they are at module level, so that a recipe can name them
by dotted path. Where TRL's tests score with the hub model
`trl-internal-testing/tiny-Qwen2ForSequenceClassification-2.5` (unreachable offline), `tests/test_trl_examples.py`
scores with `reward_len` instead.
"""


def multiply_tool(a: int, b: int) -> int:
    """
    Multiplies two integers.

    Args:
        a: The first integer.
        b: The second integer.

    Returns:
        The product of the two integers.
    """
    return a * b


async def async_multiply_tool(a: int, b: int) -> int:
    """
    Asynchronously multiplies two integers.

    Args:
        a: The first integer.
        b: The second integer.

    Returns:
        The product of the two integers.
    """
    return a * b


# test_train_with_environment_owned_reward
class DummyEnvironment:
    def reset(self, **kwargs):
        self._counter = 0

    def increment(self, step: int) -> int:
        """
        Increment the internal counter.

        Args:
            step: Value to add to the counter.

        Returns:
            The updated counter value.
        """
        self._counter += step
        return self._counter

    def get_reward(self) -> float:
        return float(self._counter)


# test_train_with_multiple_environments
reset_kwargs_seen = {"counter": [], "echo": []}
tool_calls_made = {"increment": [], "shout": []}


class CounterEnvironment:
    def reset(self, **kwargs):
        reset_kwargs_seen["counter"].append(kwargs)
        return "Count."

    def increment(self, step: int) -> int:
        """
        Increment the internal counter.

        Args:
            step: Value to add to the counter.

        Returns:
            The updated counter value.
        """
        tool_calls_made["increment"].append(step)
        return step


class EchoEnvironment:
    def reset(self, **kwargs):
        reset_kwargs_seen["echo"].append(kwargs)
        return "Echo."

    def shout(self, text: str) -> str:
        """
        Shout the given text.

        Args:
            text: Text to shout.

        Returns:
            The text in upper case.
        """
        tool_calls_made["shout"].append(text)
        return text.upper()


# test_train_with_environment_owned_data
class GuessTheWordEnvironment:
    def reset(self, **kwargs):
        return "Guess the 5-letter word."  # the env owns the data and returns the prompt


def reward_len(completions, **kwargs):
    return [float(len(completion[-1]["content"])) for completion in completions]
