"""The README and docs/: every relative link resolves, generated tables match their sources,
and every benchmark result folder is one a page refers to."""

from __future__ import annotations

import importlib
import json
import re
import shlex
import subprocess
from pathlib import Path

import optuna
import pytest

from benchmarks import front, headline

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def prose(page: Path) -> str:
    """The page without its fenced code blocks."""
    return FENCE.sub("", page.read_text())


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for the page's headings: lower case, punctuation dropped, spaces → '-'."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", prose(page), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_every_relative_link_of_the_readme_and_docs_resolves():
    broken = []
    for page in PAGES:
        for target in LINK.findall(prose(page)):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not checked offline
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_the_readme_headline_table_is_what_its_command_writes_from_the_results(monkeypatch):
    monkeypatch.chdir(REPO)  # the command names its sources from the repository root
    readme = (REPO / "README.md").read_text()
    block = readme.split(headline.START, 1)[1].split(headline.END, 1)[0].lstrip("\n")
    command = re.match(r"<!-- (.+?) -->\n", block)
    assert command, "the headline block starts with the command that wrote it"
    argv = shlex.split(command.group(1))[3:]  # after: python -m benchmarks.headline
    assert block == headline.render(headline.parse(argv))


def test_the_readme_front_is_the_front_md_it_names():
    block = (REPO / "README.md").read_text().split(front.START, 1)[1].split(front.END, 1)[0]
    sources = re.findall(r"\(`(benchmarks/results/[^`]+/front\.md)`\)", block)
    assert sources, "the front block names the front.md files it was copied from"
    assert block.lstrip("\n") == front.render(*(REPO / source for source in sources))


def test_every_benchmark_results_folder_is_referred_to_by_a_page():
    text = "".join(page.read_text() for page in PAGES)
    folders = sorted(p.name for p in (REPO / "benchmarks" / "results").iterdir() if p.is_dir())
    assert folders
    assert [f for f in folders if f not in text] == []


def test_no_tracked_file_names_an_absolute_path_of_a_machine():
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    home = re.compile(rb"(?<![\w.])/(?:work|root|home|Users)/")
    found = [
        name
        for name in listed.stdout.splitlines()
        if (REPO / name).is_file() and home.search((REPO / name).read_bytes())
    ]
    assert found == []


@pytest.mark.parametrize(
    ("script", "result"),
    [
        ("benchmark", "benchmark.json"),
        ("search_benchmark", "search.json"),
        ("time_to_confirmed", "confirmed.json"),
    ],
)
def test_each_generated_table_of_the_benchmarks_page_is_rendered_from_a_committed_result(
    script, result
):
    module = importlib.import_module(f"benchmarks.{script}")
    page = (REPO / "docs" / "benchmarks.md").read_text()
    block = page.split(f"{module.START}\n", 1)[1].split(module.END, 1)[0]
    results = sorted((REPO / "benchmarks" / "results").glob(f"*/{result}"))
    rendered = []
    for path in results:
        try:
            rendered.append(module.markdown(json.loads(path.read_text())))
        except KeyError:  # a result in an older format lacks a field the table shows
            continue
    assert block in rendered


def test_each_speed_table_of_the_benchmarks_page_is_rendered_from_a_committed_result():
    page = (REPO / "docs" / "benchmarks.md").read_text()
    blocks = re.findall(r"<!-- (speed-[\w-]+):start -->\n(.*?)<!-- \1:end -->", page, re.S)
    assert blocks
    speed = importlib.import_module("benchmarks.speed")
    results = sorted((REPO / "benchmarks" / "results").glob("*/speed.json"))
    rendered = [speed.markdown(json.loads(path.read_text())) for path in results]
    assert [marker for marker, block in blocks if block not in rendered] == []


def test_a_committed_study_is_made_to_name_its_folders_relative_to_the_repository(tmp_path):
    portable = importlib.import_module("benchmarks.portable")
    url = f"sqlite:///{tmp_path}/s.db"
    study = optuna.create_study(study_name="s", storage=url)
    trial = study.ask()
    trial.set_user_attr("run_dir", str(tmp_path / "multirun" / "0"))
    study.tell(trial, 0.5)
    study.set_user_attr("confirmed/0", {"sweep": str(tmp_path / "runs" / "a"), "seeds": [7]})
    assert portable.portable(tmp_path / "s.db", root=tmp_path) == 2
    again = optuna.load_study(study_name="s", storage=url)
    assert again.trials[0].user_attrs["run_dir"] == "multirun/0"
    assert again.user_attrs["confirmed/0"] == {"sweep": "runs/a", "seeds": [7]}


def test_the_cost_gate_tables_of_the_benchmarks_page_are_rendered_from_the_committed_study():
    gate = importlib.import_module("benchmarks.cost_gate")
    page = (REPO / "docs" / "benchmarks.md").read_text()
    block = page.split(f"{gate.START}\n", 1)[1].split(gate.END, 1)[0]
    db = REPO / "benchmarks" / "results" / "2026-12-04_fastest" / "fastest.db"
    study = optuna.load_study(study_name="fastest", storage=f"sqlite:///{db}")
    assert block == gate.markdown(study, 0, 0.995, 0.994)
