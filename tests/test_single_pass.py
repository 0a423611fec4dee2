"""Skipping RLOOTrainer's log-probability pass leaves the gradient as it was and saves a forward pass."""

import pytest
import torch

from rl_recipes.trainers.reinforce import ReinforceTrainer
from rl_recipes.trainers.stacks import ReinforceRecipeTrainer
from tests.test_reinforce_trainer import COMPLETIONS, REWARDS, make_trainer, trainer_gradients

# The class the REINFORCE recipe runs: the single pass among its other layers, against the bare algorithm.
SinglePassTrainer = ReinforceRecipeTrainer


def count_forwards(model):
    calls = []
    model.register_forward_hook(lambda *args: calls.append(torch.is_grad_enabled()))
    return calls


def test_gradient_is_unchanged_and_the_no_grad_pass_is_gone(tiny_model_dir, tmp_path):
    results = {}
    for name, trainer_class in [("two passes", ReinforceTrainer), ("one pass", SinglePassTrainer)]:
        trainer, _, _ = make_trainer(
            tiny_model_dir, tmp_path / name, COMPLETIONS, REWARDS, "batch_mean", trainer_class=trainer_class
        )
        if trainer_class is SinglePassTrainer:
            assert not trainer.old_logps_needed()  # the dropout probe's pass, once per model, before counting
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
    trainer, _, _ = make_trainer(
        tiny_model_dir, tmp_path, COMPLETIONS, REWARDS, "batch_mean", trainer_class=SinglePassTrainer, **overrides
    )
    assert trainer.old_logps_needed()
    forwards = count_forwards(trainer.model)
    trainer._generate_and_score_completions([{"prompt": "Once upon a time"}] * len(COMPLETIONS))
    assert False in forwards  # a no-grad pass of the policy ran


def test_the_pass_stays_with_dropout_on_where_it_changes_the_ratio(tiny_model_dir, tmp_path):
    from peft import LoraConfig, get_peft_model

    trainer, _, _ = make_trainer(
        tiny_model_dir, tmp_path, COMPLETIONS, REWARDS, "batch_mean", trainer_class=SinglePassTrainer
    )
    assert not trainer.old_logps_needed()
    # The GSM8K recipes' adapter: LoRA with dropout 0.05.
    trainer.model = get_peft_model(
        trainer.model, LoraConfig(r=4, lora_dropout=0.05, target_modules=["q_proj", "v_proj"])
    )
    assert trainer.old_logps_needed()
    trainer.model = trainer.model.merge_and_unload()
    assert not trainer.old_logps_needed()


@pytest.mark.parametrize(
    "architecture, config, active",
    [
        ("opt", {}, True),  # dropout 0.1 applied as a function call: no nn.Dropout module, no attention_dropout
        ("opt", {"dropout": 0.0}, False),
        ("gpt2", {}, True),  # nn.Dropout modules
        ("gpt2", {"resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}, False),
        ("llama", {"attention_dropout": 0.1}, True),  # attention dropout inside the attention function
        ("llama", {}, False),
    ],
    ids=["opt", "opt without dropout", "gpt2", "gpt2 without dropout", "llama attention dropout", "llama"],
)
def test_dropout_is_judged_by_what_the_model_does(tmp_path, architecture, config, active):
    from transformers import AutoModelForCausalLM

    from rl_recipes.trainers.single_pass import has_active_dropout
    from tests.stand_ins import build_causal_lm

    model = AutoModelForCausalLM.from_pretrained(
        build_causal_lm(tmp_path / architecture, architecture, **config)
    ).eval()
    torch.manual_seed(0)
    assert has_active_dropout(model) is active
    # The probe leaves the random-number stream and the model's mode as they were.
    drawn = torch.rand(4)
    torch.manual_seed(0)
    assert torch.equal(drawn, torch.rand(4))
    assert not model.training


def test_a_model_with_functional_dropout_keeps_trls_pass(tmp_path):
    from tests.stand_ins import build_causal_lm

    model_dir = build_causal_lm(tmp_path / "opt", "opt")  # OPT's dropout 0.1, applied as a function call
    trainer, _, _ = make_trainer(
        model_dir, tmp_path / "run", COMPLETIONS, REWARDS, "batch_mean", trainer_class=SinglePassTrainer
    )
    forwards = count_forwards(trainer.model)
    trainer._generate_and_score_completions([{"prompt": "Once upon a time"}] * len(COMPLETIONS))
    assert trainer.old_logps_needed()
    assert forwards[-1] is False  # TRL's no-grad pass of the policy ran (after the dropout probe's)
