"""TRL's own agent examples under our RLOO and REINFORCE recipes, against TRL's GRPOTrainer on the same turns.

The examples are TRL's code, copied as TRL wrote it into `tests/trl_examples/` (each module names its source): the
2048 game (`examples/scripts/grpo_2048.py`), the SQL agent (`examples/scripts/grpo_agent.py`), the tool and environment
snippets of `docs/source/grpo_trainer.md`, and the tools and environments of the tool tests of
`tests/test_grpo_trainer.py`. Only the launching is ours: each runs under `recipes/rloo.py` and `recipes/reinforce.py`
(in process, with a YAML written to tmp_path) and, as the reference, under TRL's `GRPOTrainer` built as the example's
own `main()` builds it, with the tiny tool model and the same sizes and data.

The tiny model cannot play these games, so both sides get the same scripted turns (`tests/scripted_turns.py` patches
`model.generate`, as TRL's own tests do), and every per-reward mean and tool metric our recipes log must be the one
GRPOTrainer logs, step by step, or differ as documented (`docs/agents.md#grpo`). The model is a copy of the tiny tool
model with room for 2,048 positions (its rotary positions need no weights): the SQL agent's prompt alone is 830
tokens, more than the 256 the tiny model was built with.

REINFORCE runs as `recipes/configs/calculator/reinforce.yaml` does: baseline none, one rollout per prompt, AdamW. Its
batch holds as many rollouts as GRPO's, of distinct rows; each example's script and data make a step's rewards
independent of how the rows are grouped, so the means are comparable.
"""

import json
import random
import re
import runpy
import shutil
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.scripted_turns import ScriptedCalls, last_tool_result, scripted_turns, tool_results
from tests.trl_examples import game_2048, grpo_docs, grpo_tests, sql_agent

SCRIPTS = ["rloo.py", "reinforce.py"]
SEED = 42
TOOL_METRICS = ["tools/call_frequency", "tools/failure_frequency"]

# Every run, ours and TRL's: the CPU, float32, one log per step, nothing saved mid-run, no evaluation.
COMMON = dict(
    bf16=False,
    use_cpu=True,
    logging_steps=1,
    save_strategy="no",
    report_to="none",
    disable_tqdm=True,
    seed=SEED,
    beta=0.0,
    lr_scheduler_type="constant",
)
RECIPE = dict(
    COMMON, dtype="float32", activation_checkpointing=False, eval_strategy="no", gradient_accumulation_steps=1
)
# recipes/configs/calculator/reinforce.yaml: one rollout per prompt, no baseline, AdamW with clipping.
REINFORCE = dict(baseline="none", num_generations=1, optim="adamw_torch", max_grad_norm=1.0)


# --- running a recipe, and TRL's GRPOTrainer --------------------------------------------------------------------------


class RecipeStopped(Exception):
    """A recipe script that exited with an error: its message."""


@dataclass
class Run:
    """A run's log history, what the scripted generate saw, and the last step's transcripts."""

    history: list[dict]
    generate: ScriptedCalls
    completions: list = field(default_factory=list)

    @property
    def steps(self) -> list[dict]:
        return [entry for entry in self.history if "reward" in entry]


def assert_same_steps(ours: Run, trl: Run, keys: list[str]) -> None:
    """Each logged step's `keys` equal in both runs (within float32 rounding)."""
    assert ours.generate.calls > 0 and trl.generate.calls > 0, "a trainer did not generate through the scripted turns"
    # The same rounds, each with as many rollouts still calling.
    assert [len(batch) for batch in ours.generate.batches] == [len(batch) for batch in trl.generate.batches]
    assert len(ours.steps) == len(trl.steps) > 0
    for step, (mine, theirs) in enumerate(zip(ours.steps, trl.steps), start=1):
        for key in keys:
            assert key in mine and key in theirs, f"step {step}: {key} logged by one side only"
            if theirs[key] is None:
                assert mine[key] is None, f"step {step}: {key} is {mine[key]}, TRL's None"
            else:
                assert mine[key] == pytest.approx(theirs[key], abs=1e-6), f"step {step}: {key}"


def reward_keys(*names: str) -> list[str]:
    return [f"rewards/{name}/mean" for name in names] + ["reward"]


def tool_contents(completions: list) -> list[list]:
    """Each transcript's tool results, as the rewards see them (through JSON, as samples.jsonl keeps them)."""
    return json.loads(json.dumps([[m["content"] for m in c if m["role"] == "tool"] for c in completions]))


@pytest.fixture(scope="module")
def model_dir(tool_model_dir, tmp_path_factory) -> Path:
    """The tiny tool model with 2,048 positions: the scripted turns need no skill, only room."""
    copy = tmp_path_factory.mktemp("models") / "tiny-tools-long"
    shutil.copytree(tool_model_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    config["max_position_embeddings"] = 2048
    (copy / "config.json").write_text(json.dumps(config, indent=2))
    return copy


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def recipe(model_dir, tokenizer, tmp_path, monkeypatch):
    """run(script, settings, turns, rows=None): the recipe script in process, on a YAML of `settings` (and `rows` as
    its data set), every generation scripted by `turns`."""

    def run(script: str, settings: dict, turns, rows: list[dict] | None = None) -> Run:
        settings = {**RECIPE, **settings, **(REINFORCE if script == "reinforce.py" else {})}
        if rows is not None:
            settings["dataset_name"] = str(write_rows(tmp_path / "tasks.jsonl", rows))
        config = tmp_path / "recipe.yaml"
        config.write_text(yaml.safe_dump(settings, sort_keys=False))
        output_dir = tmp_path / "out"
        monkeypatch.setattr(
            sys,
            "argv",
            [script, "--config", str(config), "--model_name_or_path", str(model_dir), "--output_dir", str(output_dir)],
        )
        random.seed(SEED)  # 2048 spawns tiles, IncrementEnv draws targets, with the global random
        with scripted_turns(tokenizer, turns) as generate:
            try:
                runpy.run_path(str(REPO_ROOT / "recipes" / script), run_name="__main__")
            except SystemExit as stop:
                if stop.code not in (None, 0):
                    raise RecipeStopped(str(stop.code)) from None
        history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
        samples = [json.loads(line) for line in (output_dir / "samples.jsonl").read_text().splitlines()]
        return Run(history, generate, [sample["completion"] for sample in samples])

    return run


def grpo_reference(
    model_dir,
    tokenizer,
    output_dir: Path,
    turns,
    *,
    rows=None,
    reward_funcs=(),
    tools=None,
    environment_factory=None,
    **sizes,
) -> Run:
    """TRL's GRPOTrainer as the examples' `main()` builds it, on the tiny model with the same sizes and data."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    args = GRPOConfig(output_dir=str(output_dir), **COMMON, **sizes)
    random.seed(SEED)
    trainer = GRPOTrainer(
        model=str(model_dir),
        args=args,
        reward_funcs=list(reward_funcs) or None,
        tools=tools,
        train_dataset=Dataset.from_list(rows) if rows is not None else None,
        environment_factory=environment_factory,
    )
    with scripted_turns(tokenizer, turns) as generate:
        trainer.train()
    return Run(list(trainer.state.log_history), generate, list(trainer._logs["completion"]))


@pytest.fixture(scope="module")
def grpo(model_dir, tokenizer, tmp_path_factory):
    """grpo(name, turns, **how): the GRPOTrainer reference of one example, run once for the module."""
    references = {}

    def reference(name: str, turns, **how) -> Run:
        if name not in references:
            output_dir = tmp_path_factory.mktemp(f"grpo-{name}")
            references[name] = grpo_reference(model_dir, tokenizer, output_dir, turns, **how)
        return references[name]

    return reference


# --- examples/scripts/grpo_2048.py ------------------------------------------------------------------------------------

MOVES = ["up", "left", "down"]


def play_2048(conversation: str) -> str:
    """Three moves, then stop."""
    moves = tool_results(conversation)
    return f"<call>move direction={MOVES[moves]}</call><|end|>" if moves < len(MOVES) else "I am done.<|end|>"


GAME_2048 = dict(
    num_generations=2,
    per_device_train_batch_size=4,
    max_completion_length=400,
    max_steps=2,
    learning_rate=1e-4,
    max_tool_calling_iterations=4,
)


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_the_2048_game_scores_as_under_grpo_trainer(script, recipe, grpo):
    rows = [{"prompt": [{"role": "user", "content": game_2048.PROMPT}]}] * 2
    trl = grpo(
        "2048",
        play_2048,
        rows=rows,
        reward_funcs=[game_2048.reward_score],
        environment_factory=game_2048.Game2048Env,
        **GAME_2048,
    )
    # Tiles spawn from the global random: the same seed, and calls run one at a time in rollout order as in TRL's
    # loop (max_parallel_tool_calls: 1), give every rollout the same boards.
    ours = recipe(
        script,
        dict(
            GAME_2048,
            reward_funcs=["tests.trl_examples.game_2048.reward_score"],
            environment_factory="tests.trl_examples.game_2048.Game2048Env",
            max_parallel_tool_calls=1,
        ),
        play_2048,
        rows=rows,
    )
    assert_same_steps(ours, trl, reward_keys("reward_score") + TOOL_METRICS)
    assert [step["tools/call_frequency"] for step in ours.steps] == [3.0, 3.0]
    assert tool_contents(ours.completions) == tool_contents(trl.completions)  # the same boards, move by move
    # Per step: the first turn, then a round a move.
    assert ours.generate.calls == trl.generate.calls == 2 * (1 + len(MOVES))


# --- examples/scripts/grpo_agent.py -----------------------------------------------------------------------------------

GENES = ["KRT90", "PLX4", "MOB7", "ZAPX1", "QRN3", "TUV8", "LMO9", "SRK2", "DYN5", "FAX6", "GLO3", "HEP2"]
QUESTIONS = [("Does the gene KRT90 interact with PLX4?", "yes"), ("Does the gene KRT90 interact with MOB7?", "no")]


def write_biogrid(path: Path) -> None:
    """`biogrid.db`: made-up interactions in the columns of BioGRID's table as the example stores it (spaces in the
    column names made underscores) that its prompt names and these queries read. KRT90 interacts with PLX4, not MOB7."""
    pairs = [(a, b) for i, a in enumerate(GENES) for b in GENES[i + 1 :] if {a, b} != {"KRT90", "MOB7"}][:36]
    rows = []
    for n, (a, b) in enumerate(pairs):
        ids = (GENES.index(a) + 1000, GENES.index(b) + 1000)
        rows.append(
            (
                f"entrez gene/locuslink:{ids[0]}",
                f"entrez gene/locuslink:{ids[1]}",
                f"entrez gene/locuslink:{a}|biogrid:{ids[0] + 5000}",
                f"entrez gene/locuslink:{b}|biogrid:{ids[1] + 5000}",
                f"entrez gene/locuslink:{a}L(gene name synonym)",
                f"entrez gene/locuslink:{b}L(gene name synonym)",
                "taxid:9606",
                "taxid:9606" if n % 4 else "taxid:10090",
                'psi-mi:"MI:0915"(physical association)',
            )
        )
    connection = sqlite3.connect(path)
    try:
        connection.execute(
            "CREATE TABLE interactions (ID_Interactor_A TEXT, ID_Interactor_B TEXT, Alt_IDs_Interactor_A TEXT, "
            "Alt_IDs_Interactor_B TEXT, Aliases_Interactor_A TEXT, Aliases_Interactor_B TEXT, Taxid_Interactor_A TEXT, "
            "Taxid_Interactor_B TEXT, Interaction_Types TEXT)"
        )
        connection.executemany("INSERT INTO interactions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        connection.commit()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def biogrid_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("biogrid")
    write_biogrid(directory / "biogrid.db")
    return directory


def sql_call(*words: str) -> str:
    # The tiny model's call format separates arguments by spaces (`<call>name k=v k=v</call>`), so the SQL's own
    # whitespace is written as tabs. The query reward's `" where "` and `"limit 1"` checks therefore never match.
    return f"<call>query_biogrid sql_command={chr(9).join(words)}</call><|end|>"


PAIR_QUERY = "SELECT\tID_Interactor_B"  # how the first call of a question's first rollout begins


def query_then_answer(conversation: str, row: int, batch: list[str]) -> str:
    """The first rollout of each question in the batch: one query for the pair, then the answer it supports. The
    other: a query with a syntax error, a count, then "yes" whatever the question. (By the question's first rollout,
    not the row: GRPO's batch groups a question's rollouts, REINFORCE's holds distinct rows in the sampler's order.)"""
    gene, other = re.search(r"Question: Does the gene (\w+) interact with (\w+)\?", conversation).groups()
    queries = tool_results(conversation)
    if queries == 0:
        if batch.index(conversation) == row:
            return sql_call(
                "SELECT",
                "ID_Interactor_B",
                "FROM",
                "interactions",
                "WHERE",
                "Alt_IDs_Interactor_A",
                "LIKE",
                f"'%:{gene}|%'",
                "AND",
                "Alt_IDs_Interactor_B",
                "LIKE",
                f"'%:{other}|%'",
            )
        return sql_call("SELEC", "*", "FROM", "interactions")
    if PAIR_QUERY in conversation:
        hits = last_tool_result(conversation).startswith("[(")
        return f"The answer is *{'yes' if hits else 'no'}*.<|end|>"
    if queries == 1:
        return sql_call(
            "SELECT", "count(*)", "FROM", "interactions", "WHERE", "Taxid_Interactor_A='taxid:9606'", "LIMIT", "1"
        )
    return "The answer is *yes*.<|end|>"


SQL_AGENT = dict(
    num_generations=2,
    per_device_train_batch_size=4,
    max_completion_length=256,
    max_steps=1,
    learning_rate=1e-4,
    max_tool_calling_iterations=3,
)
SQL_REWARDS = ["correctness_reward", "structure_reward", "query_reward"]
SQL_RECIPE = dict(
    SQL_AGENT,
    tools=["tests.trl_examples.sql_agent.query_biogrid"],
    reward_funcs=[f"tests.trl_examples.sql_agent.{name}" for name in SQL_REWARDS],
)


def sql_rows() -> list[dict]:
    return [{**sql_agent.format_example({"question": question}), "answer": answer} for question, answer in QUESTIONS]


@pytest.fixture
def in_biogrid_dir(biogrid_dir, monkeypatch):
    monkeypatch.chdir(biogrid_dir)  # query_biogrid opens biogrid.db in the working directory
    return biogrid_dir


@pytest.fixture
def sql_reference(grpo, biogrid_dir, monkeypatch):
    with monkeypatch.context() as patch:
        patch.chdir(biogrid_dir)
        return grpo(
            "sql",
            query_then_answer,
            rows=sql_rows(),
            tools=[sql_agent.query_biogrid],
            reward_funcs=[sql_agent.correctness_reward, sql_agent.structure_reward, sql_agent.query_reward],
            **SQL_AGENT,
        )


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_the_sql_agent_stops_under_default_settings_naming_the_settings_its_signal_alarm_needs(
    script, recipe, in_biogrid_dir, capsys
):
    # query_biogrid times itself with signal.alarm, which works in the main thread only; by default tool calls run in
    # worker threads. The run stops (exit status 1) with one line on standard error naming the fix.
    with pytest.raises(RecipeStopped) as stop:
        recipe(script, SQL_RECIPE, query_then_answer, rows=sql_rows())
    lines = [*str(stop.value).splitlines(), *capsys.readouterr().err.splitlines()]
    fixes = [line for line in lines if "max_parallel_tool_calls: 1" in line and "tool_call_timeout: 0" in line]
    assert len(fixes) == 1, f"no single line names max_parallel_tool_calls: 1 and tool_call_timeout: 0:\n{lines}"
    assert fixes[0].startswith("error: ") and "query_biogrid" in fixes[0]


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_the_sql_agent_with_tools_in_the_main_thread_scores_as_under_grpo_trainer(
    script, recipe, sql_reference, in_biogrid_dir
):
    trl = sql_reference
    ours = recipe(
        script, dict(SQL_RECIPE, max_parallel_tool_calls=1, tool_call_timeout=0), query_then_answer, rows=sql_rows()
    )
    assert_same_steps(ours, trl, reward_keys(*SQL_REWARDS) + TOOL_METRICS)
    assert [step["tools/failure_frequency"] for step in trl.steps] == [pytest.approx(1 / 3)]  # the syntax errors
    # A query's rows reach the rewards as the list the tool returned (query_reward counts the hits of list results),
    # as in GRPOTrainer; a failed call's result is text: TRL's "{'error': 'near \"SELEC\": syntax error'}", ours by
    # default with the exception's type, "{'error': 'OperationalError: near ...'}" (docs/agents.md#grpo), neither of
    # them the dict query_reward looks for.
    ours_results, trl_results = tool_contents(ours.completions), tool_contents(trl.completions)
    assert sorted(map(str, filter(lambda r: isinstance(r, list), sum(ours_results, [])))) == sorted(
        map(str, filter(lambda r: isinstance(r, list), sum(trl_results, [])))
    )
    assert any(isinstance(result, list) and result for result in sum(trl_results, []))


# --- docs/source/grpo_trainer.md --------------------------------------------------------------------------------------


def calculate(conversation: str, row: int) -> str:
    """Even rollouts: multiply, then async_add, then the answer. Odd rollouts: two calls in one turn, multiply with a
    word for a number (which only a schema check refuses: 3 * "four" is "fourfourfour") and an unknown tool. (The row
    picks the kind in the first round only: later batches hold the calling rollouts alone.)"""
    if tool_results(conversation) == 0:
        if row % 2 == 0:
            return "<call>multiply a=3 b=4</call><|end|>"
        return "<call>multiply a=3 b=four</call><call>divide a=12 b=5</call><|end|>"
    if "b=four" in conversation:
        return "The answer is 12.<|end|>"
    if "<call>async_add" not in conversation:
        return "<call>async_add a=12 b=5</call><|end|>"
    return "The answer is 17.<|end|>"


DOCS_TOOLS = dict(
    num_generations=2,
    per_device_train_batch_size=4,
    max_completion_length=128,
    max_steps=1,
    learning_rate=1e-4,
    max_tool_calling_iterations=3,
)


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_the_documentations_sync_and_async_tools_give_trls_results_and_error_texts(script, recipe, grpo):
    rows = [{"prompt": [{"role": "user", "content": "What is 3 * 4 + 5?"}], "answer": 17}] * 2
    trl = grpo(
        "docs-tools",
        calculate,
        rows=rows,
        tools=[grpo_docs.multiply, grpo_docs.async_add],
        reward_funcs=[grpo_docs.answer_reward],
        **DOCS_TOOLS,
    )
    ours = recipe(
        script,
        dict(
            DOCS_TOOLS,
            tools=["tests.trl_examples.grpo_docs.multiply", "tests.trl_examples.grpo_docs.async_add"],
            reward_funcs=["tests.trl_examples.grpo_docs.answer_reward"],
            check_tool_arguments=False,
            tool_error_messages="trl",
        ),
        calculate,
        rows=rows,
    )
    assert_same_steps(ours, trl, reward_keys("answer_reward") + TOOL_METRICS)
    # TRL's results, word for word: "fourfourfour" and {'error': 'Tool divide not found.'} included.
    assert tool_contents(ours.completions) == tool_contents(trl.completions)
    assert ["fourfourfour", "{'error': 'Tool divide not found.'}"] in tool_contents(trl.completions)


def increment_by_target(conversation: str, row: int) -> str:
    """Even rollouts: increment by the target the prompt names, then a sentence. Odd rollouts: one too many (a second
    call in the same turn), and no period."""
    results = tool_results(conversation)
    if results:
        return "Done.<|end|>" if results == 1 else "Done<|end|>"
    target = int(re.search(r"Increment the counter (?:by|to) (\d+)\.", conversation).group(1))
    if row % 2 == 0:
        return f"<call>increment step={target}</call><|end|>"
    return f"<call>increment step={target}</call><call>increment step=1</call><|end|>"


INCREMENT = dict(
    num_generations=2,
    per_device_train_batch_size=4,
    max_completion_length=64,
    max_steps=1,
    learning_rate=1e-4,
    max_tool_calling_iterations=2,
)


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_an_environment_that_owns_its_data_scores_with_get_reward_beside_reward_funcs_as_under_grpo_trainer(
    script, recipe, grpo
):
    # No data set: IncrementEnv draws its target and returns the prompt from reset, max_steps sets the length. Its
    # get_reward is one more reward beside format_reward (the documentation's "Rewards" section).
    trl = grpo(
        "docs-owned-data",
        increment_by_target,
        reward_funcs=[grpo_docs.format_reward],
        environment_factory=grpo_docs.IncrementEnv,
        **INCREMENT,
    )
    ours = recipe(
        script,
        dict(
            INCREMENT,
            reward_funcs=["tests.trl_examples.grpo_docs.format_reward"],
            environment_factory="tests.trl_examples.grpo_docs.IncrementEnv",
        ),
        increment_by_target,
    )
    assert_same_steps(ours, trl, reward_keys("format_reward", "IncrementEnv") + TOOL_METRICS)
    assert trl.steps[0]["rewards/IncrementEnv/mean"] == trl.steps[0]["rewards/format_reward/mean"] == 0.5


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_an_environment_reset_with_a_data_set_column_scores_as_under_grpo_trainer(script, recipe, grpo):
    rows = [
        {"prompt": [{"role": "user", "content": f"Increment the counter to {i}."}], "target": i} for i in range(1, 7)
    ]
    trl = grpo(
        "docs-dataset",
        increment_by_target,
        rows=rows,
        environment_factory=grpo_docs.IncrementEnvWithDataset,
        **INCREMENT,
    )
    ours = recipe(
        script,
        dict(INCREMENT, reward_funcs=[], environment_factory="tests.trl_examples.grpo_docs.IncrementEnvWithDataset"),
        increment_by_target,
        rows=rows,
    )
    assert_same_steps(ours, trl, reward_keys("IncrementEnvWithDataset") + TOOL_METRICS)
    assert trl.steps[0]["rewards/IncrementEnvWithDataset/mean"] == 0.5  # reset(target) read the row's target


# --- tests/test_grpo_trainer.py ---------------------------------------------------------------------------------------

# TRL's tests score with a hub reward model; offline, with their own reward_len.
REWARD_LEN = ["tests.trl_examples.grpo_tests.reward_len"]
TRL_TESTS = dict(
    num_generations=3, per_device_train_batch_size=3, max_completion_length=128, max_steps=1, learning_rate=0.1
)


def valid_invalid_none(tool: str):
    """test_train_with_tools's turns: of the 3 rollouts, a valid call, a call with a wrong argument name, no call."""

    def turns(conversation: str, row: int) -> str:
        if tool_results(conversation):
            return "Done!<|end|>"
        return [
            f"<call>{tool} a=3 b=4</call><|end|>",
            f"<call>{tool} a=3 c=4</call><|end|>",
            "I don't know any tool<|end|>",
        ][row % 3]

    return turns


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("tool", ["multiply_tool", "async_multiply_tool"])
def test_trls_tool_test_gives_its_call_and_failure_frequencies(tool, script, recipe, grpo):
    rows = [
        {"prompt": [{"role": "user", "content": text}]}
        for text in [
            "Beautiful is better than ugly.",
            "Explicit is better than implicit.",
            "Simple is better than complex.",
        ]
    ]
    trl = grpo(
        f"tests-{tool}",
        valid_invalid_none(tool),
        rows=rows,
        tools=[getattr(grpo_tests, tool)],
        reward_funcs=[grpo_tests.reward_len],
        **TRL_TESTS,
    )
    ours = recipe(
        script,
        dict(TRL_TESTS, tools=[f"tests.trl_examples.grpo_tests.{tool}"], reward_funcs=REWARD_LEN),
        valid_invalid_none(tool),
        rows=rows,
    )
    assert_same_steps(ours, trl, reward_keys("reward_len") + TOOL_METRICS)
    # TRL's assertions: 2 of 3 rollouts call, 1 of the 2 calls fails; only the 2 calling rollouts generate again.
    assert trl.steps[-1]["tools/call_frequency"] == pytest.approx(2 / 3)
    assert trl.steps[-1]["tools/failure_frequency"] == pytest.approx(1 / 2)
    assert [len(batch) for batch in ours.generate.batches] == [len(batch) for batch in trl.generate.batches] == [3, 2]
    # The failed call's text is the documented difference: TRL's {'error': "<tool>() got an unexpected keyword
    # argument 'c'"} (Python's, from calling the tool), ours by default the schema check's, with the exception's type
    # (docs/agents.md#grpo; tool_error_messages: trl and check_tool_arguments: false give TRL's).
    (trl_error,) = [r for rs in tool_contents(trl.completions) for r in rs if "error" in r]
    (our_error,) = [r for rs in tool_contents(ours.completions) for r in rs if "error" in r]
    assert trl_error == str({"error": f"{tool}() got an unexpected keyword argument 'c'"})
    assert our_error != trl_error and our_error.startswith("{'error': ")
    assert "TypeError" in our_error and tool in our_error


def increment_decrement_none(conversation: str, row: int) -> str:
    """test_train_with_environment_factory's turns: increment, a tool that does not exist, no call."""
    if tool_results(conversation):
        return "Done!<|end|>"
    return ["<call>increment step=1</call><|end|>", "<call>decrement step=2</call><|end|>", "I won't increment<|end|>"][
        row % 3
    ]


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_trls_environment_owned_reward_test_gives_its_reward_and_tool_metrics(script, recipe, grpo):
    # test_train_with_environment_owned_reward (and test_train_with_environment_factory's metrics, same turns): no
    # data set, the counter is the reward.
    trl = grpo(
        "tests-env-reward", increment_decrement_none, environment_factory=grpo_tests.DummyEnvironment, **TRL_TESTS
    )
    ours = recipe(
        script,
        dict(TRL_TESTS, reward_funcs=[], environment_factory="tests.trl_examples.grpo_tests.DummyEnvironment"),
        increment_decrement_none,
    )
    assert_same_steps(ours, trl, reward_keys("DummyEnvironment") + TOOL_METRICS)
    assert trl.steps[-1]["rewards/DummyEnvironment/mean"] == pytest.approx(1 / 3)  # counters 1, 0, 0
    assert trl.steps[-1]["tools/call_frequency"] == pytest.approx(2 / 3)
    assert trl.steps[-1]["tools/failure_frequency"] == pytest.approx(1 / 2)


def first_of_each_environment_calls(conversation: str, row: int, batch: list[str]) -> str:
    """test_train_with_multiple_environments's turns: the first rollout of each environment in the batch calls its
    environment's tool, the others do not (GRPO's batch is [counter, counter, echo, echo], REINFORCE's alternates)."""
    if tool_results(conversation):
        return "Done!<|end|>"
    first = batch.index(conversation) == row
    if "Count." in conversation:
        return "<call>increment step=1</call><|end|>" if first else "I won't<|end|>"
    return "<call>shout text=hi</call><|end|>" if first else "Done!<|end|>"


def clear_environment_records() -> None:
    for record in (grpo_tests.reset_kwargs_seen, grpo_tests.tool_calls_made):
        for calls in record.values():
            calls.clear()


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_trls_multiple_environments_test_routes_each_row_to_its_environment(script, recipe, grpo):
    rows = [{"environment": name} for name in ["counter", "echo"] * 8]  # the data set only routes
    sizes = dict(TRL_TESTS, num_generations=2, per_device_train_batch_size=4, shuffle_dataset=False)
    clear_environment_records()
    trl = grpo(
        "tests-multi-env",
        first_of_each_environment_calls,
        rows=rows,
        reward_funcs=[grpo_tests.reward_len],
        environment_factory={"counter": grpo_tests.CounterEnvironment, "echo": grpo_tests.EchoEnvironment},
        **sizes,
    )
    clear_environment_records()
    ours = recipe(
        script,
        dict(
            sizes,
            reward_funcs=REWARD_LEN,
            environment_factory={
                "counter": "tests.trl_examples.grpo_tests.CounterEnvironment",
                "echo": "tests.trl_examples.grpo_tests.EchoEnvironment",
            },
        ),
        first_of_each_environment_calls,
        rows=rows,
    )
    assert_same_steps(ours, trl, reward_keys("reward_len") + TOOL_METRICS)
    assert trl.steps[-1]["tools/call_frequency"] == pytest.approx(2 / 4)
    assert trl.steps[-1]["tools/failure_frequency"] == 0.0
    # TRL's assertions, on our run: each environment's tool ran, each environment was reset, without the routing field.
    assert grpo_tests.tool_calls_made["increment"] and grpo_tests.tool_calls_made["shout"]
    seen = grpo_tests.reset_kwargs_seen
    assert seen["counter"] and seen["echo"]
    assert all("environment" not in kwargs for kwargs in seen["counter"] + seen["echo"])


def done_lengths(conversation: str, row: int) -> str:
    """test_train_with_environment_owned_data's turns: 'Done!', 'DoneDone!', 'DoneDoneDone!'."""
    return ["Done!", "DoneDone!", "DoneDoneDone!"][row % 3] + "<|end|>"


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_trls_environment_owned_data_test_trains_on_the_prompt_reset_returns(script, recipe, grpo):
    # GuessTheWordEnvironment offers no tools: it only supplies the prompt. No data set; max_steps sets the length.
    # TRL's 8 tokens hold its Qwen turns ('Done' is one token); the tiny tokenizer spells them out in up to 14.
    sizes = dict(TRL_TESTS, max_completion_length=16)
    trl = grpo(
        "tests-owned-data",
        done_lengths,
        reward_funcs=[grpo_tests.reward_len],
        environment_factory=grpo_tests.GuessTheWordEnvironment,
        **sizes,
    )
    ours = recipe(
        script,
        dict(
            sizes, reward_funcs=REWARD_LEN, environment_factory="tests.trl_examples.grpo_tests.GuessTheWordEnvironment"
        ),
        done_lengths,
    )
    assert_same_steps(ours, trl, reward_keys("reward_len"))
    assert trl.steps[-1]["rewards/reward_len/mean"] == pytest.approx((5 + 9 + 13) / 3)  # distinct lengths, as in TRL
    assert all(
        conversation.endswith("<|user|>Guess the 5-letter word.<|end|><|assistant|>")
        for conversation in ours.generate.batches[0]
    )


# TRL's three malformed calls, in the tiny model's format: no tool name, a misspelt marker, arguments that do not parse.
MALFORMED = [
    "<call> a=3 b=4</call><|end|>",
    "<toolcall>multiply_tool a=3 b=4</toolcall><|end|>",
    '<call>{"a": 3, "b": 4}</call><|end|>',
]


def malformed_calls(conversation: str, row: int) -> str:
    return MALFORMED[row % 3] if not tool_results(conversation) else "Done!<|end|>"


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_trls_malformed_tool_calls_test_ends_the_rollouts_under_malformed_tool_calls_end(script, recipe, grpo):
    rows = [{"prompt": [{"role": "user", "content": "Beautiful is better than ugly."}]}] * 3
    trl = grpo(
        "tests-malformed",
        malformed_calls,
        rows=rows,
        tools=[grpo_tests.multiply_tool],
        reward_funcs=[grpo_tests.reward_len],
        **TRL_TESTS,
    )
    ours = recipe(
        script,
        dict(
            TRL_TESTS,
            tools=["tests.trl_examples.grpo_tests.multiply_tool"],
            reward_funcs=REWARD_LEN,
            malformed_tool_calls="end",
        ),
        malformed_calls,
        rows=rows,
    )
    assert_same_steps(ours, trl, reward_keys("reward_len") + TOOL_METRICS)
    # TRL's assertion: no second generation (a malformed call is text, the rollout ends). Under the default
    # (malformed_tool_calls: error) ours answers each with an error result instead (docs/agents.md#grpo).
    assert ours.generate.calls == trl.generate.calls == 1
    assert trl.steps[-1]["tools/call_frequency"] == 0.0
