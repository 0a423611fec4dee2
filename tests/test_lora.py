import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from rewards.a_words import count_a_words
from tests.conftest import REPO_ROOT, assert_succeeded, launch


def mean_a_words(model, tokenizer, samples=8) -> float:
    inputs = tokenizer(["Once upon a time"], return_tensors="pt")
    torch.manual_seed(0)
    outputs = model.generate(**inputs, do_sample=True, max_new_tokens=100, num_return_sequences=samples)
    texts = tokenizer.batch_decode(outputs[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    return sum(count_a_words(text) for text in texts) / samples


@pytest.mark.slow
def test_lora_recipe_trains_only_an_adapter_that_reloads_with_the_trained_behaviour(tiny_model_dir, tmp_path):
    output_dir = tmp_path / "lora"
    config = REPO_ROOT / "recipes" / "configs" / "a_words" / "rloo_lora.yaml"
    result = launch(
        "rloo.py",
        "--config",
        str(config),
        "--model_name_or_path",
        str(tiny_model_dir),
        "--output_dir",
        str(output_dir),
        "--max_steps",
        "25",
        "--seed",
        "0",
    )
    assert_succeeded(result)
    assert (output_dir / "adapter_model.safetensors").is_file()
    assert not (output_dir / "model.safetensors").exists()

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    base_state = {name: tensor.clone() for name, tensor in base.state_dict().items()}
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    base_reward = mean_a_words(base, tokenizer)

    adapted = PeftModel.from_pretrained(base, output_dir)
    lora_b = [p for name, p in adapted.named_parameters() if "lora_B" in name]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b), "LoRA B starts at zero; training must move it"
    # Only adapter parameters changed: every base weight under the adapter is the original.
    for name, tensor in adapted.get_base_model().state_dict().items():
        if "lora_" not in name:
            assert torch.equal(tensor, base_state[name.replace(".base_layer", "")]), name

    # Over 16 runs (seeds 0-7, on this CPU's arithmetic and under ATEN_CPU_CAPABILITY=avx2, each with its own tiny
    # model) the base model scored 8.25 a-words here and the adapted one 99.0 to 100.
    assert mean_a_words(adapted, tokenizer) > base_reward + 30
