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

"""The tool and environment snippets of TRL's GRPOTrainer documentation, as TRL wrote them.

Source: huggingface/trl, `docs/source/grpo_trainer.md` (commit f2cd57710ae345ea6428ae95363267fcf38a3dc8), section
"Agent Training": `multiply` and `async_add` ("Tools"), `IncrementEnv` ("Environments": the environment owns the data,
self-samples a target and returns the prompt from `reset`, and scores itself with `get_reward`), the second
`IncrementEnv` ("Providing an external dataset": `reset(target)` reads the row's `target` column), here named
`IncrementEnvWithDataset` since one module cannot hold two classes of one name, its `increment` given the docstring
the snippet refers to ("see the full docstring above"), without which no trainer can show it to a model.

The snippets leave two things out, written here and marked as ours: the body of the "Rewards" section's
`format_reward` (`...` in the documentation: "scores the completion text"), and a reward for the "Tools" example,
whose `GRPOTrainer(tools=[multiply, async_add], ...)` names none.
"""

import random


def multiply(a: int, b: int) -> int:
    """
    Multiplies two integers.

    Args:
        a: The first integer.
        b: The second integer.

    Returns:
        The product of the two integers.
    """
    return a * b

async def async_add(a: int, b: int) -> int:
    """
    Asynchronously adds two integers.

    Args:
        a: The first integer.
        b: The second integer.

    Returns:
        The sum of the two integers.
    """
    return a + b


class IncrementEnv:
    # Reserved methods
    def reset(self, **kwargs) -> str | None:  # required; called at the start of each rollout
        self.counter = 0
        self.target = random.randint(1, 6)  # self-sample the task
        return f"Increment the counter by {self.target}."  # returned string becomes the prompt

    def get_reward(self) -> float:  # optional: the environment scores itself from its own state
        return float(self.counter == self.target)

    # Public methods (exposed as tools)
    def increment(self, step: int) -> int:
        """
        Increment the internal counter.

        Args:
            step: Value to add to the counter.

        Returns:
            The updated counter value.
        """
        self.counter += step
        return self.counter


class IncrementEnvWithDataset:
    def reset(self, target, **kwargs) -> None:  # the row's `target` column arrives as a keyword argument
        self.counter = 0
        self.target = target

    def get_reward(self) -> float:
        return float(self.counter == self.target)

    def increment(self, step: int) -> int:  # exposed as a tool (see the full docstring above)
        """
        Increment the internal counter.

        Args:
            step: Value to add to the counter.

        Returns:
            The updated counter value.
        """
        self.counter += step
        return self.counter


# --- Ours: what the snippets leave out ------------------------------------------------------------------------------


def format_reward(completions, **kwargs):  # trainer-owned: scores the completion text
    """1 when the final message is a sentence ending in a period, else 0 (the documentation's body is `...`)."""
    return [float(str(completion[-1].get("content") or "").strip().endswith(".")) for completion in completions]


def answer_reward(completions, answer, **kwargs):
    """1 when the final message holds the row's `answer`, else 0 (the "Tools" example names no reward)."""
    return [float(str(a) in str(completion[-1].get("content") or "")) for completion, a in zip(completions, answer)]
