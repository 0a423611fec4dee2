"""The REINFORCE trainer's update, through its real code path with generation pinned to fixed completions."""

import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM
from trl import RLOOConfig

from rl_recipes.trainers.reinforce import ReinforceConfig, ReinforceTrainer

PROMPT = "Once upon a time"
COMPLETIONS = [" and a cat", " the dog ran away", " an apple"]
REWARDS = [3.0, -1.0, 5.0]


def make_trainer(
    model_dir, tmp_path, completions, rewards, baseline="none", trainer_class=ReinforceTrainer, **overrides
):
    """A ReinforceTrainer (or `trainer_class`, a subclass) whose generation returns `completions` (one per prompt, the last ending in EOS),
    scored with the fixed `rewards`."""
    reward_of = dict(zip(completions, rewards))

    def fixed_rewards(completions, **kwargs):
        return [reward_of[c] for c in completions]

    args = ReinforceConfig(
        output_dir=str(tmp_path),
        baseline=baseline,
        per_device_train_batch_size=len(completions),
        max_completion_length=16,
        bf16=False,
        activation_checkpointing=False,
        report_to="none",
        use_cpu=True,
        learning_rate=1e-4,
        seed=0,
        **overrides,
    )
    dataset = Dataset.from_dict({"prompt": [PROMPT] * 4})
    trainer = trainer_class(model=str(model_dir), reward_funcs=fixed_rewards, args=args, train_dataset=dataset)
    tokenizer = trainer.processing_class
    prompt_ids = tokenizer(PROMPT)["input_ids"]
    completion_ids = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in completions]
    completion_ids[-1] = completion_ids[-1] + [tokenizer.eos_token_id]  # one finished completion, the rest cut off

    def pinned_generate(prompts):
        return [prompt_ids] * len(prompts), completion_ids, completions

    trainer._generate = pinned_generate
    trainer.model.train()
    return trainer, prompt_ids, completion_ids


def trainer_gradients(trainer, num_prompts):
    batch = trainer._generate_and_score_completions([{"prompt": PROMPT}] * num_prompts)
    trainer.model.zero_grad()
    trainer.compute_loss(trainer.model, batch).backward()
    return {name: p.grad.clone() for name, p in trainer.model.named_parameters()}, batch


def sequence_logprob(model, prompt_ids, completion_ids):
    """log p(completion | prompt) summed over the completion's tokens, computed without the trainer."""
    ids = torch.tensor([prompt_ids + completion_ids])
    logprobs = torch.log_softmax(model(ids).logits[0, :-1].float(), dim=-1)
    targets = ids[0, 1:]
    token_logprobs = logprobs.gather(1, targets.unsqueeze(1)).squeeze(1)
    return token_logprobs[len(prompt_ids) - 1 :].sum()


def reinforce_gradients(model_dir, prompt_ids, completion_ids, advantages):
    """-(1/N) sum_i A_i grad log p(c_i | prompt), by autograd on a fresh copy of the model."""
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    objective = sum(a * sequence_logprob(model, prompt_ids, c) for a, c in zip(advantages, completion_ids))
    (-objective / len(advantages)).backward()
    return {name: p.grad for name, p in model.named_parameters()}


@pytest.mark.parametrize(
    "baseline, preset_average, expected_baseline",
    [
        ("none", None, 0.0),
        ("batch_mean", None, sum(REWARDS) / 3),
        ("moving_average", 2.0, 2.0),
    ],
)
def test_gradient_is_reinforce_gradient_for_each_baseline(
    tiny_model_dir, tmp_path, baseline, preset_average, expected_baseline
):
    trainer, prompt_ids, completion_ids = make_trainer(tiny_model_dir, tmp_path, COMPLETIONS, REWARDS, baseline)
    trainer.moving_average.value = preset_average
    actual, batch = trainer_gradients(trainer, len(COMPLETIONS))

    advantages = [r - expected_baseline for r in REWARDS]
    assert batch["advantages"].tolist() == pytest.approx(advantages)
    expected = reinforce_gradients(tiny_model_dir, prompt_ids, completion_ids, advantages)
    for name, grad in expected.items():
        torch.testing.assert_close(actual[name], grad, atol=1e-5, rtol=1e-4, msg=name)
    assert trainer._metrics["train"]["baseline"] == [pytest.approx(expected_baseline)]
    if baseline == "moving_average":
        assert trainer.moving_average.value == pytest.approx(0.9 * 2.0 + 0.1 * sum(REWARDS) / 3)


def test_moving_average_starts_at_the_first_mean_reward(tiny_model_dir, tmp_path):
    trainer, _, _ = make_trainer(tiny_model_dir, tmp_path, COMPLETIONS, REWARDS, "moving_average")
    _, batch = trainer_gradients(trainer, len(COMPLETIONS))
    mean = sum(REWARDS) / 3
    assert batch["advantages"].tolist() == pytest.approx([r - mean for r in REWARDS])


@pytest.mark.parametrize("reward, direction", [(1.0, +1), (-1.0, -1)])
def test_one_sgd_step_moves_the_log_probability_with_the_sign_of_the_advantage(
    tiny_model_dir, tmp_path, reward, direction
):
    trainer, prompt_ids, completion_ids = make_trainer(tiny_model_dir, tmp_path, [COMPLETIONS[0]], [reward])
    with torch.no_grad():
        before = sequence_logprob(trainer.model, prompt_ids, completion_ids[0]).item()
    optimizer = trainer.create_optimizer()
    assert isinstance(optimizer, torch.optim.SGD)
    trainer_gradients(trainer, 1)
    optimizer.step()
    with torch.no_grad():
        after = sequence_logprob(trainer.model, prompt_ids, completion_ids[0]).item()
    assert (after - before) * direction > 1e-3


def test_config_accepts_one_generation_and_keeps_the_text_defaults(tmp_path):
    config = ReinforceConfig(output_dir=str(tmp_path), bf16=False, use_cpu=True)
    assert config.num_generations == 1 and config.generation_batch_size == 8
    assert (config.optim, config.lr_scheduler_type, config.max_grad_norm, config.beta) == ("sgd", "constant", 0.0, 0.0)
    with pytest.raises(ValueError, match="at least 2 generations"):
        RLOOConfig(output_dir=str(tmp_path), num_generations=1, bf16=False, use_cpu=True)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"num_generations": 3, "per_device_train_batch_size": 4}, "must be divisible by num_generations"),
        ({"baseline": "median"}, "baseline must be one of none, moving_average, batch_mean"),
        ({"baseline": "moving_average", "baseline_decay": 1.0}, "baseline_decay must be in"),
        ({"baseline": "batch_mean", "per_device_train_batch_size": 1}, "makes every advantage 0"),
        (
            {"normalize_advantages": True, "per_device_train_batch_size": 1},
            "normalize_advantages with a generation batch of 1",
        ),
        ({"auto_find_batch_size": True}, "auto_find_batch_size is not supported"),
    ],
)
def test_config_keeps_the_other_validations(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        ReinforceConfig(output_dir=str(tmp_path), bf16=False, use_cpu=True, **overrides)


def test_kl_penalty_enters_the_reinforce_advantage_as_in_rloo_from_one_reference_pass(tiny_model_dir, tmp_path):
    beta = 0.1
    trainer, prompt_ids, completion_ids = make_trainer(tiny_model_dir, tmp_path, COMPLETIONS, REWARDS, beta=beta)
    with torch.no_grad():  # move the policy away from the reference, so the KL is not zero
        for p in trainer.model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    reference_passes = []
    trainer.ref_model.register_forward_hook(lambda *args: reference_passes.append(1))
    _, batch = trainer_gradients(trainer, len(COMPLETIONS))
    assert len(reference_passes) == 1  # the KL reuses TRL's reference pass instead of running its own
    with torch.no_grad():
        kl = [
            (sequence_logprob(trainer.model, prompt_ids, c) - sequence_logprob(trainer.ref_model, prompt_ids, c)).item()
            for c in completion_ids
        ]
    assert any(abs(k) > 0.01 for k in kl)
    expected = [r - beta * k for r, k in zip(REWARDS, kl)]
    assert batch["advantages"].tolist() == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("preset_average", [None, 2.0])
def test_a_batch_without_any_reward_leaves_the_moving_average_as_it_was(tiny_model_dir, tmp_path, preset_average):
    trainer, _, _ = make_trainer(tiny_model_dir, tmp_path, COMPLETIONS, [None] * 3, "moving_average")
    trainer.moving_average.value = preset_average
    _, batch = trainer_gradients(trainer, len(COMPLETIONS))
    assert trainer.moving_average.value == preset_average
    assert batch["advantages"].tolist() == [0.0, 0.0, 0.0]
    assert trainer._metrics["train"]["skipped_batches"] == [1.0]
    assert "baseline" not in trainer._metrics["train"]


def test_each_process_trains_on_the_advantages_of_its_own_completions(tiny_model_dir, tmp_path, monkeypatch):
    from collections import deque

    import trl.trainer.rloo_trainer

    trainer, _, _ = make_trainer(tiny_model_dir, tmp_path, COMPLETIONS, REWARDS, "batch_mean")
    # This process is rank 1 of 2; rank 0's completions were all rewarded 100.
    monkeypatch.setattr(type(trainer.accelerator), "process_index", property(lambda self: 1))
    monkeypatch.setattr(
        trl.trainer.rloo_trainer, "gather", lambda local: torch.cat([torch.full_like(local, 100.0), local])
    )
    trainer._logs["advantages"] = deque(maxlen=6)  # the completions table holds the generation batch of both
    _, batch = trainer_gradients(trainer, len(COMPLETIONS))
    baseline = (3 * 100.0 + sum(REWARDS)) / 6  # the batch mean spans both processes
    assert batch["advantages"].tolist() == pytest.approx([r - baseline for r in REWARDS])


def test_the_baseline_is_saved_inside_the_checkpoint_before_its_trainer_state(tiny_model_dir, tmp_path):
    trainer, _, _ = make_trainer(tiny_model_dir, tmp_path, COMPLETIONS, REWARDS, "moving_average")
    trainer.moving_average.value = 2.5
    baseline_there_when_state_written = []
    save_state = trainer.state.save_to_json

    def record_then_save(path):
        baseline_there_when_state_written.append((tmp_path / "checkpoint-0" / "reinforce_baseline.json").is_file())
        save_state(path)

    trainer.state.save_to_json = record_then_save
    trainer.create_optimizer_and_scheduler(num_training_steps=1)  # a checkpoint holds their states too
    trainer._save_checkpoint(trainer.model, trial=None)
    # trainer_state.json comes last: a checkpoint complete enough to resume from has the baseline.
    assert baseline_there_when_state_written == [True]
