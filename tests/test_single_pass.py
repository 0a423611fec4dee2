"""Skipping RLOOTrainer's log-probability pass leaves the gradient as it was and saves a forward pass."""

import pytest
import torch

from rl_recipes.trainers.reinforce import ReinforceTrainer
from rl_recipes.trainers.single_pass import SinglePassMixin
from tests.test_reinforce_trainer import COMPLETIONS, REWARDS, make_trainer, trainer_gradients

SinglePassTrainer = type("SinglePassTrainer", (SinglePassMixin, ReinforceTrainer), {})


def count_forwards(model):
    calls = []
    model.register_forward_hook(lambda *args: calls.append(torch.is_grad_enabled()))
    return calls


def test_gradient_is_unchanged_and_the_no_grad_pass_is_gone(tiny_model_dir, tmp_path):
    results = {}
    for name, trainer_class in [("two passes", ReinforceTrainer), ("one pass", SinglePassTrainer)]:
        trainer, _, _ = make_trainer(tiny_model_dir, tmp_path / name, COMPLETIONS, REWARDS, "batch_mean",
                                     trainer_class=trainer_class)
        forwards = count_forwards(trainer.model)
        gradients, batch = trainer_gradients(trainer, num_prompts=len(COMPLETIONS))
        results[name] = gradients, forwards, batch
    for parameter, expected in results["two passes"][0].items():
        torch.testing.assert_close(results["one pass"][0][parameter], expected, atol=1e-7, rtol=1e-5)
    assert results["two passes"][1] == [False, True]  # old log-probabilities, then the loss
    assert results["one pass"][1] == [True]  # the loss alone
    # The loss recorded the policy's own log-probabilities as old_logps: the ratio is exactly 1.
    torch.testing.assert_close(results["one pass"][2]["old_logps"], results["two passes"][2]["old_logps"])


@pytest.mark.parametrize(
    "overrides",
    [{"beta": 0.1}, {"num_iterations": 2}, {"steps_per_generation": 2, "gradient_accumulation_steps": 1}],
    ids=["kl penalty", "batch reused", "several steps per generation"],
)
def test_the_pass_stays_where_the_policy_can_have_moved_or_the_kl_needs_it(tiny_model_dir, tmp_path, overrides):
    trainer, _, _ = make_trainer(tiny_model_dir, tmp_path, COMPLETIONS, REWARDS, "batch_mean",
                                 trainer_class=SinglePassTrainer, **overrides)
    assert trainer.old_logps_needed()
    forwards = count_forwards(trainer.model)
    trainer._generate_and_score_completions([{"prompt": "Once upon a time"}] * len(COMPLETIONS))
    assert False in forwards  # a no-grad pass of the policy ran


def test_the_pass_stays_with_dropout_on_where_it_changes_the_ratio(tiny_model_dir, tmp_path):
    from peft import LoraConfig, get_peft_model

    trainer, _, _ = make_trainer(tiny_model_dir, tmp_path, COMPLETIONS, REWARDS, "batch_mean",
                                 trainer_class=SinglePassTrainer)
    assert not trainer.old_logps_needed()
    # The GSM8K recipes' adapter: LoRA with dropout 0.05.
    trainer.model = get_peft_model(trainer.model, LoraConfig(r=4, lora_dropout=0.05, target_modules=["q_proj", "v_proj"]))
    assert trainer.old_logps_needed()
    trainer.model.config.attention_dropout = 0.0
    trainer.model = trainer.model.merge_and_unload()
    assert not trainer.old_logps_needed()
    trainer.model.config.attention_dropout = 0.1
    assert trainer.old_logps_needed()
