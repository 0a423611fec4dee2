"""The documentation agrees with the repository: links resolve, every page is reachable from the README,
documented commands use real flags, documented YAML passes the recipes' key check, every start-up error is
explained in docs/troubleshooting.md, the metric glossary names every metric a run logs, and the layout in
CONTRIBUTING.md names every module.

Offline and fast: one 1-step REINFORCE run on the tiny model, in this process, for the logged metric names.
"""

import ast
import importlib.util
import re
import shlex
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
CONTRIBUTING = REPO_ROOT / "CONTRIBUTING.md"
DOCS = sorted((REPO_ROOT / "docs").glob("*.md"))
PAGES = [README, CONTRIBUTING, *DOCS]
TROUBLESHOOTING = REPO_ROOT / "docs" / "troubleshooting.md"
GLOSSARY_PAGE = REPO_ROOT / "docs" / "following_a_run.md"

FENCE = re.compile(r"^(```|~~~)([^\n]*)\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
# [text](target) and ![alt](target), text possibly holding one level of brackets; an optional "title".
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)


def page_id(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def without_code(text: str) -> str:
    """The page's prose: fenced blocks and inline code spans blanked out (links inside them are not links)."""
    text = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return INLINE_CODE.sub(lambda m: "" if "](" not in m.group(2) else m.group(0), text)


def fenced_blocks(text: str, *languages: str) -> list[str]:
    return [m.group(3) for m in FENCE.finditer(text) if m.group(2).strip().split(" ")[0] in languages]


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text as rendered, lower-cased, punctuation but `-` and `_` dropped,
    each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for match in HEADING.finditer(FENCE.sub("", path.read_text())):
        slug = github_slug(match.group(2))
        result.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return result


def relative_links(path: Path) -> list[str]:
    return [
        target for target in LINK.findall(without_code(path.read_text())) if not re.match(r"[a-z][a-z0-9+.-]*:", target)
    ]  # http:, https:, mailto: are not checked here


def resolve(page: Path, target: str) -> tuple[Path, str]:
    """(file, anchor) that a relative link on `page` points to."""
    file, _, anchor = target.partition("#")
    return ((page.parent / file).resolve() if file else page), anchor


# --- links, anchors, images and the index ---------------------------------------------------------------------


def test_the_pages_exist():
    assert README.is_file() and CONTRIBUTING.is_file() and TROUBLESHOOTING.is_file() and GLOSSARY_PAGE.is_file()


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_relative_link_anchor_and_image_resolves(page):
    broken = []
    for target in relative_links(page):
        file, anchor = resolve(page, target)
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (file.suffix != ".md" or anchor not in anchors(file)):
            broken.append(f"{target}: no heading of {file.name} has the anchor #{anchor}")
    assert not broken, f"{page_id(page)}: " + "; ".join(broken)


def test_every_docs_page_is_reachable_from_the_readme():
    reached, queue = {README}, [README]
    while queue:
        page = queue.pop()
        for target in relative_links(page):
            file, _ = resolve(page, target)
            if file.suffix == ".md" and file.is_file() and file not in reached:
                reached.add(file)
                queue.append(file)
    unreachable = [page_id(page) for page in DOCS if page.resolve() not in reached]
    assert not unreachable, f"not linked from README.md, directly or through its pages: {unreachable}"


def test_readme_keeps_the_quickstart_commands_that_ci_runs():
    readme = README.read_text()
    assert "\n## Quickstart\n" in readme
    quickstart = readme.split("\n## Quickstart\n", 1)[1].split("\n## ", 1)[0]
    ci_lines = (REPO_ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert fenced_blocks(quickstart, "bash")[1].strip() in ci_lines


def test_the_layout_in_contributing_names_every_module():
    """Every module of the packages and every script is in CONTRIBUTING.md's layout table."""
    text = CONTRIBUTING.read_text()
    layout = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    files = [
        *(REPO_ROOT / "rl_recipes").rglob("*.py"),
        *(REPO_ROOT / "rewards").rglob("*.py"),
        *(REPO_ROOT / "scripts").rglob("*"),
    ]
    missing = [
        page_id(path) for path in files if path.is_file() and path.name != "__init__.py" and path.name not in layout
    ]
    assert not missing, f"CONTRIBUTING.md's layout does not name: {missing}"


# --- documented commands --------------------------------------------------------------------------------------

SCRIPT = re.compile(r"(?:^|/)(recipes|scripts)/(\w+)\.py$")
RECIPE_CONFIGS = {
    "rloo": ("rl_recipes.trainers.agent_rloo", "AgentRLOOConfig"),
    "reinforce": ("rl_recipes.trainers", "ReinforceConfig"),
    "grpo": ("trl", "GRPOConfig"),
}


def documented_commands() -> list[tuple[str, str]]:
    """(page, command) for every command line of a fenced bash block, and every inline code span that starts
    with `accelerate launch` or `python`."""
    commands = []
    for page in PAGES:
        text = page.read_text()
        for block in fenced_blocks(text, "bash", "sh", "shell"):
            for line in block.replace("\\\n", " ").splitlines():
                if line.strip() and not line.strip().startswith("#"):
                    commands.append((page_id(page), line))
        for match in INLINE_CODE.finditer(FENCE.sub("", text)):
            span = " ".join(match.group(2).split())
            if span.startswith(("accelerate launch", "python")):
                commands.append((page_id(page), span))
    return commands


def script_flags(tokens: list[str]) -> tuple[str, str, list[str]] | None:
    """(kind, name, flags given to it) for a command that runs recipes/X.py or scripts/Y.py, else None.
    What comes before the script is the launcher's (accelerate, sbatch) and is not checked."""
    for index, token in enumerate(tokens):
        if match := SCRIPT.search(token):
            flags = [t[2:].split("=", 1)[0] for t in tokens[index + 1 :] if t.startswith("--") and len(t) > 2]
            return match.group(1), match.group(2), flags
    return None


def recipe_settings(script: str) -> set[str]:
    from trl import ModelConfig

    from rl_recipes.checks import setting_names
    from rl_recipes.runner.cli import RecipeArguments

    module, name = RECIPE_CONFIGS[script]
    config_class = getattr(importlib.import_module(module), name)
    return setting_names((RecipeArguments, config_class, ModelConfig)) | {"config", "help"}


def script_settings(script: str) -> set[str]:
    """The fields of the dataclasses that scripts/<script>.py hands to HfArgumentParser."""
    path = REPO_ROOT / "scripts" / f"{script}.py"
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "HfArgumentParser" and node.args:
            argument = node.args[0]
            names += [e.id for e in (argument.elts if isinstance(argument, ast.Tuple) else [argument])]
    assert names, f"scripts/{script}.py hands no dataclass to HfArgumentParser"
    spec = importlib.util.spec_from_file_location(f"documented_script_{script}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    classes = [getattr(module, name) for name in names]
    assert all(is_dataclass(cls) for cls in classes), names
    return {f.name for cls in classes for f in fields(cls)} | {"help"}


def test_documented_commands_use_real_flags():
    allowed: dict[tuple[str, str], set[str]] = {}
    wrong = []
    checked = 0
    for page, command in documented_commands():
        try:
            tokens = shlex.split(command, comments=True)
        except ValueError as error:
            wrong.append(f"{page}: cannot read {command!r} ({error})")
            continue
        found = script_flags(tokens)
        if found is None:
            continue
        kind, script, flags = found
        if not (REPO_ROOT / kind / f"{script}.py").is_file():
            wrong.append(f"{page}: {kind}/{script}.py does not exist ({command!r})")
            continue
        if (kind, script) not in allowed:
            if kind == "recipes":
                assert script in RECIPE_CONFIGS, f"{page}: no config class known for recipes/{script}.py"
                allowed[kind, script] = recipe_settings(script)
            else:
                allowed[kind, script] = script_settings(script)
        checked += 1
        wrong += [
            f"{page}: --{flag} is no argument of {kind}/{script}.py ({command!r})"
            for flag in flags
            if flag not in allowed[kind, script]
        ]
    assert checked > 20, f"only {checked} documented commands found: is the parsing broken?"
    assert not wrong, "\n".join(wrong)


# --- documented YAML ------------------------------------------------------------------------------------------

LAUNCH_CONFIG_KEYS = {"distributed_type", "compute_environment"}
REINFORCE_ONLY_KEYS = {"baseline", "baseline_decay"}


def test_documented_recipe_yaml_passes_the_recipes_key_check(tmp_path):
    from trl import ModelConfig

    from rl_recipes.checks import RecipeError, check_recipe_keys
    from rl_recipes.runner.cli import RecipeArguments
    from rl_recipes.trainers import ReinforceConfig
    from rl_recipes.trainers.agent_rloo import AgentRLOOConfig

    wrong, checked = [], 0
    for page in PAGES:
        for index, block in enumerate(fenced_blocks(page.read_text(), "yaml", "yml")):
            recipe = yaml.safe_load(block)
            if not isinstance(recipe, dict) or LAUNCH_CONFIG_KEYS & set(recipe):
                continue
            config_class = ReinforceConfig if REINFORCE_ONLY_KEYS & set(recipe) else AgentRLOOConfig
            path = tmp_path / f"{page.stem}_{index}.yaml"
            path.write_text(block)
            checked += 1
            try:
                check_recipe_keys(str(path), (RecipeArguments, config_class, ModelConfig))
            except RecipeError as error:
                wrong.append(f"{page_id(page)}, YAML block {index + 1}: {error}")
    assert checked >= 3, f"only {checked} recipe snippets found"
    assert not wrong, "\n".join(wrong)


# --- troubleshooting against the code -------------------------------------------------------------------------

# The exceptions whose message the recipes and scripts print as one `error:` line, in the files that raise them.
ONE_LINE_ERRORS = {"RecipeError", "UnknownRewardError", "ToolFault", "BenchmarkError"}
ERROR_SOURCES = [
    *sorted((REPO_ROOT / "rl_recipes").rglob("*.py")),
    *sorted((REPO_ROOT / "rewards").rglob("*.py")),
    *sorted((REPO_ROOT / "scripts").glob("*.py")),
]
# ValueErrors that reach the user as one line too: a reward's bad setting (checked at start-up) and
# ReinforceConfig's own checks (the parser's errors are printed as one line).
VALUE_ERROR_SOURCES = [
    *sorted((REPO_ROOT / "rewards").rglob("*.py")),
    REPO_ROOT / "rl_recipes" / "trainers" / "reinforce.py",
]
PLACEHOLDER = "\x00"  # a value the message fills in: `{...}` in the code, `<...>` in the page
MIN_OPENING = 15
MAX_OPENING = 60


def normalised(text: str) -> str:
    """Whitespace collapsed, code-span backticks dropped, `<placeholder>` as PLACEHOLDER."""
    text = re.sub(r"<[^<>\n]{1,40}>", PLACEHOLDER, text.replace("`", ""))
    return " ".join(text.split())


def template(node) -> list | None:
    """A message as a list of literal texts and PLACEHOLDERs, or None where it is not written as a string."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [part.value if isinstance(part, ast.Constant) else PLACEHOLDER for part in node.values]
    return None


def opening(parts: list) -> str | None:
    """The message's leading text: up to the end of the first literal once MIN_OPENING literal characters have been
    seen, cut to MAX_OPENING characters at a word's end. None for a message with too little text of its own."""
    text, literal = "", 0
    for part in parts:
        text += part
        if part != PLACEHOLDER:
            literal += len(part.strip())
            if literal >= MIN_OPENING:
                break
    text = normalised(text)
    if literal < MIN_OPENING or len(text.replace(PLACEHOLDER, "")) < MIN_OPENING:
        return None
    if len(text) > MAX_OPENING:
        text = text[:MAX_OPENING].rsplit(" ", 1)[0]
    return text.strip()


def returned_messages(function: ast.FunctionDef) -> list:
    return [node.value for node in ast.walk(function) if isinstance(node, ast.Return) and node.value is not None]


def error_messages() -> list[tuple[str, int, str]]:
    """(file, line, opening) of every one-line error message the code can print."""
    trees = {path: ast.parse(path.read_text()) for path in {*ERROR_SOURCES, *VALUE_ERROR_SOURCES}}
    functions = {
        node.name: node for tree in trees.values() for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
    }
    found = []

    def add(path, node, parts):
        if parts is not None and (text := opening(parts)) is not None:
            found.append((page_id(path), node.lineno, text))

    def add_message(path, node, message):
        if isinstance(message, ast.Call) and getattr(message.func, "id", None) in functions:
            # A message built by a function of ours (bf16_refusal(), argument_error(...)): what it returns.
            for returned in returned_messages(functions[message.func.id]):
                add_message(path, node, returned)
        else:
            add(path, node, template(message))

    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = getattr(node.func, "id", None)
            if (name in ONE_LINE_ERRORS and path in ERROR_SOURCES) or (
                name == "ValueError" and path in VALUE_ERROR_SOURCES
            ):
                add_message(path, node, node.args[0])
            elif path.parent.name == "scripts" and getattr(node.func, "attr", None) == "exit":
                parts = template(node.args[0])  # sys.exit("error: ...") in the scripts
                if parts and parts[0].startswith("error: "):
                    add(path, node, [parts[0].removeprefix("error: "), *parts[1:]])
    from rl_recipes.checks import REMOVED_SETTINGS  # the hint for a setting TRL removed, after an unknown key or flag

    found += [("rl_recipes/checks.py", 0, opening([hint])) for hint in REMOVED_SETTINGS.values()]
    return found


def test_troubleshooting_explains_every_start_up_error():
    messages = error_messages()
    assert len(messages) > 60, f"only {len(messages)} error messages found in the code: is the extraction broken?"
    page = normalised(TROUBLESHOOTING.read_text())
    missing = sorted(
        {f"{file}:{line}: {text.replace(PLACEHOLDER, '<...>')}" for file, line, text in messages if text not in page}
    )
    assert not missing, "docs/troubleshooting.md does not quote these messages:\n" + "\n".join(missing)


# --- the metric glossary --------------------------------------------------------------------------------------

PER_REWARD = re.compile(r"^(eval_)?(rewards|reward_faults)/([^/]+)(/mean|/std)?$")


def glossary_names() -> set[str]:
    """The names in backticks in the glossary section of docs/following_a_run.md."""
    text = GLOSSARY_PAGE.read_text()
    match = re.search(r"^(#{2,4}) [^\n]*[Gg]lossary[^\n]*\n(.*?)(?=^#{1,%d} |\Z)" % 4, text, re.MULTILINE | re.DOTALL)
    assert match, "docs/following_a_run.md has no glossary section"
    return {name.strip() for name in re.findall(r"`([^`]+)`", match.group(2))}


def as_documented(key: str) -> str:
    """A logged key as the glossary names it: one reward's metrics by the pattern rewards/<name>/mean."""
    match = PER_REWARD.match(key)
    return f"{match.group(1) or ''}{match.group(2)}/<name>{match.group(4) or ''}" if match else key


@pytest.fixture(scope="module")
def logged_keys(tiny_model_dir, tmp_path_factory) -> set[str]:
    """Every key of the log history of a 1-step REINFORCE run (moving-average baseline), run in this process.
    ReinforceTrainer is an RLOOTrainer that logs a `baseline` besides, so these are RLOO's keys too."""
    import json

    from trl import RLOOTrainer

    from rl_recipes.runner.lifecycle import main
    from rl_recipes.trainers import ReinforceTrainer

    assert issubclass(ReinforceTrainer, RLOOTrainer)
    output_dir = tmp_path_factory.mktemp("glossary") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO_ROOT)
        main(
            "reinforce",
            [
                "--model_name_or_path",
                str(tiny_model_dir),
                "--output_dir",
                str(output_dir),
                "--baseline",
                "moving_average",
                "--max_steps",
                "1",
                "--max_completion_length",
                "8",
                "--logging_steps",
                "1",
                "--save_strategy",
                "no",
                "--report_to",
                "none",
                "--disable_tqdm",
                "true",
                "--use_cpu",
                "true",
            ],
        )
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    return {key for entry in history for key in entry}


def test_the_metric_glossary_names_every_logged_metric(logged_keys):
    assert {"reward", "entropy", "distinct_completions", "baseline", "rewards/a_words/mean"} <= logged_keys
    documented = glossary_names()
    missing = sorted({as_documented(key) for key in logged_keys} - documented)
    assert not missing, f"the glossary in docs/following_a_run.md does not name: {missing}"
