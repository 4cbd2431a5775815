"""The README cannot drift: every ``econonexus`` command line in it parses, the runnable
ones run, and the Python API block runs as it is written."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import pathlib
import re
import shlex

import pytest
from distributed import Client

from econonexus.pipelines.ops.cli import build_parser, main

ROOT = pathlib.Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, re.DOTALL)
# commands of the README that run here as written (others need a cloud bucket, a pool,
# a run id, or run until stopped)
RUNNABLE = ("econonexus clear data/", "econonexus generate", "econonexus config show")


def command_lines() -> list[str]:
    """Every ``econonexus ...`` line of the README's shell blocks (continuations joined)."""
    lines = []
    for language, body in BLOCKS:
        if language == "bash":
            joined = body.replace("\\\n", " ")
            lines += [ln.strip() for ln in joined.splitlines() if ln.startswith("econonexus ")]
    return lines


def quoted_commands() -> list[str]:
    """Every ``econonexus ...`` command quoted in the README's text (often a fragment)."""
    quoted = re.findall(r"`(econonexus [^`]+)`", README)
    return [" ".join(q.split()) for q in quoted if "COMMAND" not in q and "..." not in q]


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (found,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(found.choices)


def arguments(line: str) -> list[str]:
    """The line's arguments, with its optional ``[--option X]`` parts given."""
    return shlex.split(re.sub(r"\[(--[^\]]+)\]", r"\1", line))[1:]


def test_the_readme_has_the_blocks_this_test_reads() -> None:
    assert sum(1 for language, _ in BLOCKS if language == "python") >= 2
    assert len(command_lines()) >= 15 and len(quoted_commands()) >= 15


@pytest.mark.parametrize("line", command_lines())
def test_every_command_line_of_the_readme_parses(line: str) -> None:
    parser = build_parser()
    with contextlib.redirect_stderr(io.StringIO()) as said:
        try:
            parser.parse_args(arguments(line))
        except SystemExit as exit_:
            assert exit_.code == 0, f"{line!r}: {said.getvalue()}"


def test_every_command_quoted_in_the_text_exists_with_its_options() -> None:
    commands = _commands(build_parser())
    for quoted in quoted_commands():
        words = quoted.split()[1:]
        if words == ["--version"]:
            continue
        assert words[0] in commands, quoted
        command = commands[words[0]]
        if words[0] == "audit":
            command = _commands(command)[words[1]]
        options = {o for action in command._actions for o in action.option_strings}
        assert {w for w in words if w.startswith("--")} <= options, quoted


def test_the_runnable_command_lines_run(
    client: Client, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # in this process, through the console script's own `main` (test_cli runs it end to end)
    (tmp_path / "data").symlink_to(ROOT / "data")
    monkeypatch.chdir(tmp_path)
    ran = 0
    for line in dict.fromkeys(command_lines()):
        if not line.startswith(RUNNABLE):
            continue
        extra = ["--scheduler", client.scheduler.address] if " clear " in f" {line} " else []
        with (
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()) as said,
        ):
            code = main([*arguments(line), *extra])
        assert code == 0, f"{line!r}: {said.getvalue()}"
        ran += 1
    assert ran >= 4


def test_the_python_api_block_runs_as_written(
    client: Client, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = next(body for language, body in BLOCKS if language == "python")
    assert block.startswith("import polars as pl\n\nimport econonexus as enx\n")
    (tmp_path / "data").symlink_to(ROOT / "data")
    monkeypatch.chdir(tmp_path)  # the client made by the fixture is the current one
    names: dict[str, object] = {}
    exec(compile(block, "README.md", "exec"), names)  # the README's own code
    assert os.path.isdir(tmp_path / "runs") and os.path.isdir(tmp_path / "copies")
    assert type(names["market"]).__name__ == "MarketView"
    assert type(names["sim"]).__name__ == "SimulationResult"
    assert repr(names["result"]).startswith("<ClearingResult ")
