"""The agent trainers' objective, through their real code path with generation pinned to scripted turns: tool-result
tokens count nowhere, the advantage is over whole trajectories, and environments follow TRL's contract."""

import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM
from trl import RLOOTrainer

from rl_recipes.tasks.calculator.tools import TOOLS
from rl_recipes.tasks.vault.environment import Vault
from rl_recipes.trainers.agent_rloo import AgentRLOOConfig, AgentRLOOTrainer
from rl_recipes.trainers.reinforce import AgentReinforceTrainer, ReinforceConfig

QUESTION = [{"role": "user", "content": "What is 7 * 83 + 15?"}]
# Two rollouts of the question: one answers after two calls, one guesses at once.
TRAJECTORIES = [
    ["<call>multiply a=7 b=83</call><|end|>", "<call>add a=581 b=15</call><|end|>", "The answer is 596.<|end|>"],
    ["The answer is 600.<|end|>"],
]
REWARDS = [1.0, 0.0]


def scripted_trainer(model_dir, tmp_path, trainer_class=AgentRLOOTrainer, config_class=AgentRLOOConfig, **settings):
    """An agent trainer whose generation writes TRAJECTORIES' turns (rollout i gets TRAJECTORIES[i]), scored REWARDS."""

    def fixed_rewards(completions, **kwargs):
        return [REWARDS[0] if len(completion) > 1 else REWARDS[1] for completion in completions]

    args = config_class(
        output_dir=str(tmp_path),
        per_device_train_batch_size=2,
        num_generations=settings.pop("num_generations", 2),
        max_completion_length=settings.pop("max_completion_length", 96),
        bf16=False,
        activation_checkpointing=False,
        report_to="none",
        use_cpu=True,
        learning_rate=1e-4,
        seed=0,
        **settings,
    )
    trainer = trainer_class(
        model=str(model_dir),
        reward_funcs=fixed_rewards,
        args=args,
        tools=TOOLS,
        train_dataset=Dataset.from_list([{"prompt": QUESTION}] * 4),
    )
    tokenizer = trainer.processing_class
    rounds = []

    def pinned_turns(batch_ids, images, multimodal_fields):
        # The first round has every rollout; later ones only those that called a tool (the first, here).
        rows = range(len(batch_ids)) if not rounds else [0]
        turn = len(rounds)
        rounds.append(turn)
        return [tokenizer(TRAJECTORIES[row][turn], add_special_tokens=False)["input_ids"] for row in rows]

    trainer._generate_single_turn = pinned_turns
    trainer.model.train()
    return trainer


def loss_and_gradients(trainer):
    batch = trainer._generate_and_score_completions([{"prompt": QUESTION}] * 2)
    trainer.model.zero_grad()
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in trainer.model.named_parameters()}, batch


def masked_objective_gradients(model_dir, batch, advantages, tool_mask=None):
    """-(1/N) sum_i A_i sum_t tool_mask_it log p(token_it | all before it), by autograd on a fresh model that sees the
    whole sequence, tool results included (with `tool_mask` all ones: the objective that would count them)."""
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    prompt_ids, completion_ids = batch["prompt_ids"], batch["completion_ids"]
    ids = torch.cat([prompt_ids, completion_ids], dim=1)
    attention = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    logits = model(input_ids=ids, attention_mask=attention).logits[:, prompt_ids.size(1) - 1 : -1].float()
    token_logps = torch.log_softmax(logits, -1).gather(2, completion_ids.unsqueeze(2)).squeeze(2)
    mask = batch["completion_mask"] * (batch["tool_mask"] if tool_mask is None else tool_mask)
    sequence_logps = (token_logps * mask).sum(1)
    (-(advantages * sequence_logps).mean()).backward()
    return {name: p.grad for name, p in model.named_parameters()}


@pytest.mark.parametrize("trainer_class", [AgentRLOOTrainer, AgentReinforceTrainer], ids=["rloo", "reinforce"])
def test_the_gradient_is_that_of_the_objective_with_tool_results_masked_out(tool_model_dir, tmp_path, trainer_class):
    config = AgentRLOOConfig if trainer_class is AgentRLOOTrainer else ReinforceConfig
    trainer = scripted_trainer(tool_model_dir, tmp_path, trainer_class, config)
    _, gradients, batch = loss_and_gradients(trainer)
    tokenizer = trainer.processing_class
    masked = [
        tokenizer.decode([t for t, m, c in zip(ids, mask, keep) if c and not m])
        for ids, mask, keep in zip(
            batch["completion_ids"].tolist(), batch["tool_mask"].tolist(), batch["completion_mask"].tolist()
        )
    ]
    assert masked == ["<|tool|>581<|end|><|assistant|><|tool|>596<|end|><|assistant|>", ""]
    # RLOO: each rollout's reward minus the other's (the leave-one-out baseline over the task's two rollouts);
    # REINFORCE without a baseline: the reward itself. Over whole trajectories either way.
    expected_advantages = torch.tensor([1.0, -1.0]) if trainer_class is AgentRLOOTrainer else torch.tensor(REWARDS)
    torch.testing.assert_close(batch["advantages"], expected_advantages)
    expected = masked_objective_gradients(tool_model_dir, batch, expected_advantages)
    for name, gradient in expected.items():
        torch.testing.assert_close(gradients[name], gradient, atol=1e-5, rtol=1e-4, msg=name)
    # Counting the tool results would change it well beyond those tolerances.
    unmasked = masked_objective_gradients(
        tool_model_dir, batch, expected_advantages, torch.ones_like(batch["tool_mask"])
    )
    assert (gradients["model.norm.weight"] - unmasked["model.norm.weight"]).abs().max() > 1e-3


def test_a_tool_result_tokens_log_probability_changes_neither_loss_nor_gradient(tool_model_dir, tmp_path, monkeypatch):
    trainer = scripted_trainer(tool_model_dir, tmp_path)
    loss, gradients, _ = loss_and_gradients(trainer)

    original = RLOOTrainer._get_per_token_logps_and_entropies

    def shifted_at_tool_results(self, model, input_ids, attention_mask, logits_to_keep, *args, **kwargs):
        logps, entropies, aux = original(self, model, input_ids, attention_mask, logits_to_keep, *args, **kwargs)
        tool_positions = 1 - self._fit(self._active_tool_mask, logits_to_keep).to(logps.dtype)
        # Far from the model's own, and depending on the weights, so that it would move the gradient too.
        return logps + tool_positions * (100.0 + 1e3 * next(model.parameters()).sum()), entropies, aux

    monkeypatch.setattr(RLOOTrainer, "_get_per_token_logps_and_entropies", shifted_at_tool_results)
    trainer = scripted_trainer(tool_model_dir, tmp_path / "shifted")
    shifted_loss, shifted_gradients, _ = loss_and_gradients(trainer)
    torch.testing.assert_close(shifted_loss, loss)
    for name, gradient in gradients.items():
        torch.testing.assert_close(shifted_gradients[name], gradient, msg=name)


class ScoredVault(Vault):
    """The vault task's environment with a `get_reward` (the shipped task scores with a reward function instead)."""

    def get_reward(self) -> float:
        return 1.0 if self.opened else 0.0


class RecordingVault(ScoredVault):
    """The vault task's environment, remembering the state each reset left and what the rewards were given."""

    resets: list = []

    def reset(self, **row):
        observation = super().reset(**row)
        RecordingVault.resets.append((id(self), tuple(self.codes), self.code_drawer))
        return observation


class BrokenVault(ScoredVault):
    """A vault whose set-up fails for drawer 5 (a row the environment cannot start from)."""

    def reset(self, codes, code_drawer, **row):
        if code_drawer == 5:
            raise ValueError("drawer 5 is jammed")
        return super().reset(codes, code_drawer, **row)


VAULT_ROW = {
    "prompt": [{"role": "user", "content": "Open the vault."}],
    "codes": [111, 222, 333, 444, 555],
    "code_drawer": 3,
}
VAULT_TURNS = ["<call>read_drawer drawer=3</call><|end|>", "<call>unlock code=333</call><|end|>", "Open.<|end|>"]


def vault_trainer(model_dir, tmp_path, environment, rows, policy=None, num_generations=2):
    """An agent trainer on the vault (no reward but the environment's), every rollout pinned to VAULT_TURNS."""
    from rl_recipes.trainers.stacks import AgentRLOORecipeTrainer

    # With a fault policy, the class the agent recipe runs (the reward guard among its layers).
    trainer_class = AgentRLOORecipeTrainer if policy else AgentRLOOTrainer
    args = AgentRLOOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=len(rows) * num_generations,
        num_generations=num_generations,
        max_completion_length=96,
        bf16=False,
        activation_checkpointing=False,
        report_to="none",
        use_cpu=True,
        seed=0,
    )
    seen_environments = []

    def sees_environments(completions, environments, **kwargs):
        seen_environments.append(list(environments))
        return [0.0] * len(completions)

    trainer = trainer_class(
        model=str(model_dir),
        reward_funcs=[sees_environments],
        args=args,
        environment_factory=environment,
        train_dataset=Dataset.from_list(rows),
    )
    if policy:
        trainer.reward_fault_policy = policy
    tokenizer = trainer.processing_class
    rounds = []

    def pinned_turns(batch_ids, images, multimodal_fields):
        turn = len(rounds)
        rounds.append(turn)
        return [tokenizer(VAULT_TURNS[turn], add_special_tokens=False)["input_ids"] for _ in batch_ids]

    trainer._generate_single_turn = pinned_turns
    trainer.model.train()
    inputs = [row for row in rows for _ in range(num_generations)]  # as TRL's sampler repeats each task k times
    return trainer, inputs, seen_environments


def test_an_environment_per_rollout_starts_each_task_the_same_and_scores_it(tool_model_dir, tmp_path):
    RecordingVault.resets = []
    trainer, inputs, seen = vault_trainer(tool_model_dir, tmp_path, RecordingVault, [VAULT_ROW], num_generations=3)
    batch = trainer._generate_and_score_completions(inputs)
    # One environment a rollout, each reset with the row: the task's three rollouts start from one state.
    assert len({environment for environment, _, _ in RecordingVault.resets}) == 3
    assert {(codes, drawer) for _, codes, drawer in RecordingVault.resets} == {((111, 222, 333, 444, 555), 3)}
    # reset's string joins the prompt; the methods are the tools; the rewards get the rollouts' environments.
    prompt = trainer.processing_class.decode(batch["prompt_ids"][0])
    assert prompt.endswith("<|user|>Open the vault. The code is in drawer 3.<|end|><|assistant|>")
    assert "read_drawer(drawer) read_note() unlock(code)" in prompt
    assert seen == [trainer.environments] and all(environment.opened for environment in trainer.environments)
    # get_reward is one more reward, named after the class, weight 1: every rollout opened the vault.
    assert trainer.reward_func_names == ["sees_environments", "RecordingVault"]
    assert trainer._metrics["train"]["rewards/RecordingVault/mean"] == [1.0]


@pytest.mark.parametrize("policy", ["skip", "stop"])
def test_an_environment_that_fails_to_reset_is_a_fault_the_policy_handles(tool_model_dir, tmp_path, policy):
    from rl_recipes.trainers.reward_guard import RewardFault

    jammed = {**VAULT_ROW, "code_drawer": 5}
    trainer, inputs, _ = vault_trainer(tool_model_dir, tmp_path, BrokenVault, [VAULT_ROW, jammed], policy=policy)
    if policy == "stop":
        with pytest.raises(RewardFault, match="Environment BrokenVault.reset raised ValueError: drawer 5 is jammed"):
            trainer._generate_and_score_completions(inputs)
        return
    batch = trainer._generate_and_score_completions(inputs)
    # The jammed task's two rollouts are left unscored: no advantage; the other task trains as usual.
    assert batch["advantages"][2:].tolist() == [0.0, 0.0]
    assert trainer._metrics["train"]["reward_faults/environment"] == [2.0]
    assert trainer._metrics["train"]["rewards/BrokenVault/mean"] == [1.0]  # the mean over the scored rollouts


def model_token_mean(values, batch):
    mask = batch["completion_mask"] * batch["tool_mask"]
    return ((values * mask).sum() / mask.sum()).item()


def test_the_logged_entropy_and_kl_are_means_over_the_models_own_tokens(tool_model_dir, tmp_path):
    trainer = scripted_trainer(tool_model_dir, tmp_path, beta=0.1)
    with torch.no_grad():  # a reference that differs from the policy, so that the KL is not 0
        for parameter in trainer.ref_model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    _, _, batch = loss_and_gradients(trainer)
    ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    attention = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    width = batch["completion_ids"].size(1)
    with torch.no_grad():
        logps, entropies, _ = RLOOTrainer._get_per_token_logps_and_entropies(
            trainer, trainer.model, ids, attention, width, compute_entropy=True
        )
        ref_logps, _, _ = RLOOTrainer._get_per_token_logps_and_entropies(
            trainer, trainer.ref_model, ids, attention, width
        )
    logged = trainer._metrics["train"]
    assert logged["entropy"][-1] == pytest.approx(model_token_mean(entropies, batch), rel=1e-4)
    assert logged["kl"][-1] == pytest.approx(model_token_mean(logps - ref_logps, batch), rel=1e-3, abs=1e-6)
    # Averaged over every completion token instead, the tool results' would count as 0: a lower reading.
    over_all = (entropies * batch["tool_mask"] * batch["completion_mask"]).sum() / batch["completion_mask"].sum()
    assert logged["entropy"][-1] > over_all.item() * 1.05


@pytest.mark.parametrize("mask_truncated", [False, True])
def test_a_rollout_cut_with_a_call_pending_counts_as_truncated(tool_model_dir, tmp_path, mask_truncated):
    # The first rollout's first turn calls a tool whose result does not fit in 10 tokens: it ends cut, on its call.
    trainer = scripted_trainer(
        tool_model_dir, tmp_path, max_completion_length=10, mask_truncated_completions=mask_truncated
    )
    batch = trainer._generate_and_score_completions([{"prompt": QUESTION}] * 2)
    assert trainer._metrics["train"]["completions/clipped_ratio"] == [0.5]
    kept = batch["completion_mask"].sum(dim=1).tolist()
    assert (kept[0] == 0) is mask_truncated and kept[1] > 0


class Greeting:
    """An environment without tools that supplies its prompt from reset and scores the rollout."""

    def reset(self, **row) -> str:
        self.said = None
        return "Say hello."

    def get_reward(self) -> float:
        return 0.5


def test_several_environments_each_rows_own_tools_in_its_prompt_and_each_class_scores_its_rollouts(
    tool_model_dir, tmp_path
):
    rows = [
        {**VAULT_ROW, "environment": "vault"},
        {"prompt": [{"role": "user", "content": ""}], "environment": "greeting", "codes": [0] * 5, "code_drawer": 1},
    ]
    trainer, inputs, seen = vault_trainer(
        tool_model_dir, tmp_path, {"vault": RecordingVault, "greeting": Greeting}, rows
    )
    batch = trainer._generate_and_score_completions(inputs)
    prompts = [trainer.processing_class.decode(ids, skip_special_tokens=False) for ids in batch["prompt_ids"]]
    assert "read_drawer(drawer)" in prompts[0] and prompts[0].endswith(
        "Open the vault. The code is in drawer 3.<|end|><|assistant|>"
    )
    assert "read_drawer" not in prompts[2] and prompts[2].endswith("<|user|>Say hello.<|end|><|assistant|>")
    assert [type(e).__name__ for e in seen[0]] == ["RecordingVault", "RecordingVault", "Greeting", "Greeting"]
    assert trainer.reward_func_names == ["sees_environments", "RecordingVault", "Greeting"]
    assert trainer._metrics["train"]["rewards/RecordingVault/mean"] == [1.0]  # the vault rollouts only
    assert trainer._metrics["train"]["rewards/Greeting/mean"] == [0.5]
    # The greeting's rollouts were offered no tools: the pinned turns' calls went unanswered, and nothing was cut.
    assert trainer._metrics["train"]["tools/call_frequency"] == [1.0]  # 2 calls in each of the 2 vault rollouts, of 4


class Verbose(Vault):
    """A vault whose reset appends more than the model has positions for."""

    def reset(self, **row):
        return super().reset(**row) + " The vault is old." * 200


def test_a_prompt_that_resets_observation_makes_too_long_stops_the_run_with_one_line(tool_model_dir, tmp_path):
    from rl_recipes.trainers.agent_rloo import ToolFault

    trainer, inputs, _ = vault_trainer(tool_model_dir, tmp_path, Verbose, [VAULT_ROW])
    with pytest.raises(
        ToolFault, match=r"A prompt is \d+ tokens with its tools and the environment's reset observation"
    ):
        trainer._generate_and_score_completions(inputs)
