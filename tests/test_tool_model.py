"""The embedded tool model's build: the tokens it names, the decisions it leaves to RL, the copy check, and the
embedded tasks' data and rewards."""

import itertools
import json
import random

import pytest
from jinja2 import Template

from rewards import get_reward_funcs
from rl_recipes import REPO_ROOT
from rl_recipes.tasks.calculator import pretraining as calculator_pretraining
from rl_recipes.tasks.calculator.reward import calculator_answer
from rl_recipes.tasks.splits import TASK_NAMES, held_out_keys, make_tasks, task_part, task_rows
from rl_recipes.tasks.vault import pretraining as vault_pretraining
from rl_recipes.tasks.vault.environment import Vault
from rl_recipes.tasks.vault.reward import vault_opened
from rl_recipes.tiny_models.chat_format import CHAT_TEMPLATE, train_tokenizer
from rl_recipes.tiny_models.tool_model import ToolModelSpec, pretraining_transcripts, tool_schemas, training_labels
from rl_recipes.tiny_models.transcript_tokens import (
    ToolModelTooWeak,
    check_copies,
    copy_probabilities,
    label_assistant_tokens,
)

TOOL_NAMES = ["add", "multiply", "read_drawer", "read_note", "subtract", "unlock"]


@pytest.fixture(scope="module")
def tokenizer():
    """The tool model's tokenizer, trained on a few hundred transcripts of both tasks."""
    spec = ToolModelSpec(num_transcripts=200, skill_transcripts=200)
    tools = {name: task_part(name, "pretraining").prompt_tools() for name in TASK_NAMES}
    texts = [
        Template(CHAT_TEMPLATE).render(messages=messages, tools=[{"function": s} for s in tool_schemas(tools[name])])
        for name, messages, _ in pretraining_transcripts(spec)
    ]
    return train_tokenizer(texts, 320, whole_words=TOOL_NAMES)


def rendered(tokenizer, name: str, messages: list[dict]) -> list[int]:
    tools = task_part(name, "pretraining").prompt_tools()
    return tokenizer.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=False)


def labelled(tokenizer, ids: list[int]) -> list[tuple[str, str]]:
    return [
        (tokenizer.decode([token]), label) for token, label in zip(ids, label_assistant_tokens(ids, tokenizer)) if label
    ]


def test_every_tool_name_is_one_token_and_no_piece_of_one_is_a_token(tokenizer):
    for name in TOOL_NAMES:
        assert tokenizer.tokenize(f"<call>{name} a=1</call>")[:2] == ["<call>", name]
    # RL cannot shave a name into a piece of it that names no tool: the BPE never saw the names.
    pieces = {name[:end] for name in TOOL_NAMES for end in range(3, len(name))} - set(TOOL_NAMES)
    assert not pieces & {token.lstrip("Ġ") for token in tokenizer.get_vocab()}


def test_the_labels_name_decisions_and_copies_in_a_calculator_transcript(tokenizer):
    task = {
        "question": "What is 7 * 83 + 15?",
        "answer": 596,
        "solutions": [[("multiply", {"a": 7, "b": 83}, 581), ("add", {"a": 581, "b": 15}, 596)]],
    }
    ids = rendered(tokenizer, "calculator", calculator_pretraining.conversation(task, random.Random(0), True))
    assert labelled(tokenizer, ids) == [
        ("<call>", "turn0.start"),
        ("multiply", "turn0.tool"),
        ("7", "multiply.a"),
        ("83", "multiply.b"),
        ("<call>", "turn1.start"),
        ("add", "turn1.tool"),
        ("581", "add.a"),
        ("15", "add.b"),
        (tokenizer.decode(tokenizer.encode("The")), "turn2.start"),
        ("596", "answer"),
    ]


def test_the_labels_of_the_vaults_second_way_name_the_note_and_the_code(tokenizer):
    task = {"codes": [111, 222, 333, 444, 555], "code_drawer": 4}
    messages = vault_pretraining.conversation(task, random.Random(0), True, solution=1)
    assert labelled(tokenizer, rendered(tokenizer, "vault", messages)) == [
        ("<call>", "turn0.start"),
        ("read_note", "turn0.tool"),
        ("<call>", "turn1.start"),
        ("unlock", "turn1.tool"),
        ("444", "unlock.code"),
        (tokenizer.decode(tokenizer.encode("The")), "turn2.start"),
    ]


def test_skill_transcripts_carry_no_loss_on_the_decisions(tokenizer):
    task = make_tasks("vault", "pretraining", 1)[0]
    ids = rendered(tokenizer, "vault", vault_pretraining.conversation(task, random.Random(0), True, solution=0))
    labels = label_assistant_tokens(ids, tokenizer)
    full = training_labels(ids, tokenizer, untrained=set())
    skill = training_labels(ids, tokenizer, untrained=vault_pretraining.DECISIONS)
    trained = [label for label, target in zip(labels, skill) if target != -100]
    assert "unlock.code" in trained and not set(trained) & vault_pretraining.DECISIONS
    assert {label for label, target in zip(labels, full) if target != -100} >= vault_pretraining.DECISIONS
    # Nothing but the assistant's turns is trained: the prompt and the tools' results are read, not predicted.
    assert all(target == -100 for target in full[: ids.index(tokenizer.convert_tokens_to_ids("<|assistant|>")) + 1])


def test_the_decision_transcripts_use_the_tools_at_the_tool_share_and_the_skill_transcripts_always():
    spec = ToolModelSpec(num_transcripts=2000, skill_transcripts=1000, tool_share=0.3)
    transcripts = pretraining_transcripts(spec)
    deciding = [messages for _, messages, teaches in transcripts if teaches]
    skill = [messages for _, messages, teaches in transcripts if not teaches]
    assert len(deciding) == 2000 and len(skill) == 1000

    def uses_tools_well(messages):
        return messages[-1]["content"] == "The vault is open." or (
            "tool_calls" in messages[1] and messages[-1]["content"].startswith("The answer is")
        )

    share = sum(map(uses_tools_well, deciding)) / len(deciding)
    assert 0.26 <= share <= 0.34  # 0.3, drawn per transcript
    assert all(map(uses_tools_well, skill))
    # Both ways to the vault's code are taught.
    first_tools = {m[1]["tool_calls"][0]["function"]["name"] for m in skill if "vault" in m[0]["content"]}
    assert first_tools == {"read_drawer", "read_note"}


def test_the_copy_check_names_the_weakest_copy_in_one_line():
    with pytest.raises(ToolModelTooWeak) as raised:
        check_copies({"vault read_drawer > unlock: unlock.code": 0.99, "calculator subtract: answer": 0.42}, 0.97)
    assert str(raised.value).count("\n") == 0
    assert "calculator subtract: answer with probability 0.420" in str(raised.value)
    assert "--max_steps" in str(raised.value)
    check_copies({"calculator subtract: answer": 0.98}, 0.97)


def test_the_copy_check_reads_every_copy_of_every_solution(tool_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tool_model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tool_model_dir)
    tasks = {name: make_tasks(name, "test", 6) for name in TASK_NAMES}
    probabilities = copy_probabilities(model, tokenizer, TASK_NAMES, tasks.__getitem__, task_part)
    kinds = {question.split(" ")[3] for question in [t["question"] for t in tasks["calculator"]]}
    expected = {"vault read_drawer > unlock: unlock.code", "vault read_note > unlock: unlock.code"}
    if "-" in kinds:
        expected |= {f"calculator subtract: {c}" for c in ("subtract.a", "subtract.b", "answer")}
    if "*" in kinds:
        expected |= {
            f"calculator multiply > add: {c}" for c in ("multiply.a", "multiply.b", "add.a", "add.b", "answer")
        }
    assert set(probabilities) == expected
    assert all(0 <= p <= 1 for p in probabilities.values())
    # The probability at a copy is the model's own, teacher-forced: recomputed here for one copy.
    task = tasks["vault"][0]
    messages = vault_pretraining.conversation(task, random.Random(0), True, solution=1)
    ids = rendered(tokenizer, "vault", messages)
    position = label_assistant_tokens(ids, tokenizer).index("unlock.code")
    with torch.no_grad():
        chances = model(torch.tensor([ids])).logits[0, position - 1].softmax(-1)
    one = copy_probabilities(model, tokenizer, ["vault"], lambda name: [task], task_part)
    assert one["vault read_note > unlock: unlock.code"] == pytest.approx(chances[ids[position]].item(), abs=1e-5)


def test_the_shipped_task_files_are_the_generators_rows_and_hold_no_pretraining_task():
    for name in TASK_NAMES:
        for split, rows in task_rows(name).items():
            shipped = (REPO_ROOT / "recipes" / "configs" / name / "tasks" / f"{split}.jsonl").read_text().splitlines()
            assert [json.loads(line) for line in shipped] == json.loads(json.dumps(rows))
        data = task_part(name, "data")
        pretraining = {data.task_key(t) for t in make_tasks(name, "pretraining", 2000, exclude=held_out_keys(name))}
        assert not pretraining & held_out_keys(name)


@pytest.mark.parametrize(
    "final_turn, reward",
    [
        ("The answer is 42.", 1.0),
        ("The answer is 42", 0.0),  # not the answer's form
        ("The answer is 42</call>", 0.0),  # a malformed turn, though its number is right
        ("The answer is 41.", 0.0),
        ("The answer is 42. The answer is 43.", 0.0),
    ],
)
def test_the_calculator_reward_wants_the_right_number_in_the_answers_form(final_turn, reward):
    completion = [
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "add", "arguments": {}}}]},
        {"role": "tool", "name": "add", "content": "42"},
        {"role": "assistant", "content": final_turn},
    ]
    assert calculator_answer([completion], [42]) == [reward]
    assert calculator_answer([completion[:2]], [42]) == [0.0]  # the rollout ended on a result, with no answer


def test_the_vault_reward_wants_the_vault_open_and_the_closing_line():
    opened, closed = Vault(), Vault()
    for vault in (opened, closed):
        vault.reset(codes=[111, 222, 333, 444, 555], code_drawer=2)
    opened.unlock(222)
    closing = [{"role": "assistant", "content": "The vault is open."}]
    rambling = [{"role": "assistant", "content": "The vault is opentt ananantt"}]
    assert vault_opened([closing, rambling, closing], [opened, opened, closed]) == [1.0, 0.0, 0.0]
    assert get_reward_funcs(["vault_opened"])[0].__name__ == "vault_opened"


def test_pass_at_k_is_the_chance_that_one_of_k_drawn_without_replacement_succeeds():
    from rl_recipes.evaluation.metrics import pass_at, pass_at_k

    for samples, successes, k in [(8, 0, 1), (8, 3, 1), (8, 3, 4), (8, 8, 8), (5, 1, 5), (6, 2, 3)]:
        outcomes = [True] * successes + [False] * (samples - successes)
        draws = list(itertools.combinations(outcomes, k))
        assert pass_at_k(samples, successes, k) == pytest.approx(sum(map(any, draws)) / len(draws))
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)
    # Totals prompt by prompt: None (unscored) fails, a total at the threshold succeeds.
    assert pass_at([1.0, 0.0, None, 0.0], samples=2, ks=[1, 2], success_reward=1.0) == {"pass@1": 0.25, "pass@2": 0.5}


@pytest.mark.slow
def test_a_build_that_cannot_copy_exits_with_one_line_and_saves_nothing(tmp_path):
    import subprocess
    import sys

    output_dir = tmp_path / "weak"
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "build_tool_model.py"), "--output_dir", str(output_dir)]
        + ["--max_steps", "5", "--num_transcripts", "200", "--skill_transcripts", "200"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert line.startswith("error: The tool model copies ") and "--min_copy_probability 0" in line
    assert "Traceback" not in result.stderr
    assert not output_dir.exists() and list(tmp_path.iterdir()) == []  # not even the scratch directory
