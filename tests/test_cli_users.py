"""The command line as a new user meets it: help and version, the same options as the API,
usage errors instead of silent rejections, clean stops on Ctrl+C, a busy port."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys

import polars as pl
import pytest
from distributed import Client

from econonexus.pipelines.ops.cli import build_parser

ROOT = pathlib.Path(__file__).parents[1]
DATA = ROOT / "data"
CLI = [sys.executable, "-m", "econonexus.pipelines.ops.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def _parsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(parser.prog, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += _parsers(child)
    return found


def test_every_option_of_every_command_has_help_and_shows_its_default() -> None:
    for prog, parser in _parsers(build_parser()):
        assert parser.description, f"{prog} has a description"
        text = parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue  # its commands each have a line
            assert action.help, f"{prog} {action.option_strings or action.dest} has no help"
            if action.option_strings and action.default not in (None, False, "==SUPPRESS=="):
                assert f"(default: {action.default})" in " ".join(text.split()), (
                    f"{prog} {action.option_strings[0]} does not show its default"
                )


def test_help_and_version_in_a_subprocess() -> None:
    top = run("--help")
    assert top.returncode == 0
    assert "and write it to Parquet with a manifest." in top.stdout, "the description is whole"
    assert "Exit codes: 0 success" in top.stdout
    version = run("--version")
    assert version.returncode == 0 and version.stdout.strip() == "econonexus 0.1.0"
    options = {name: set(_help(name).split()) for name in ("clear", "schedule", "demo")}
    shared = {"--items", "--markets", "--accounts", "--keys", "--solver", "--time-limit"}
    shared |= {"--batch-time-limit", "--gap", "--scheduler", "--workers"}
    for name, words in options.items():
        assert shared <= words, f"{name} lacks {shared - words}"
    simulate = _help("simulate")
    assert "--items-per-market" in simulate and "--items " not in simulate


def _help(command: str) -> str:
    """What ``econonexus COMMAND --help`` prints (in this process: the parser is the same)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    return printed.getvalue()


def test_a_signed_market_without_keys_is_a_usage_error(tmp_path: pathlib.Path) -> None:
    (tmp_path / "markets.yaml").write_text("compute: {format: combinatorial, signed: true}\n")
    done = run(
        "clear", str(DATA / "bids.csv"), "--markets", str(tmp_path / "markets.yaml"),
        "--out", str(tmp_path / "runs"), "--scheduler", "tcp://127.0.0.1:9",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "`keys`: expected the agents' signing keys" in done.stderr
    assert "compute" in done.stderr and "--keys URL" in done.stderr
    assert not (tmp_path / "runs").exists(), "nothing ran"


def test_schedule_takes_the_batch_and_solver_options_of_clear(
    client: Client, tmp_path: pathlib.Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "b.csv").write_bytes((DATA / "bids.csv").read_bytes())
    (inbox / "b.csv.ready").touch()
    pl.DataFrame({"agent_id": ["alice"], "free_stake": [0.0], "banned": [True]}).write_csv(
        tmp_path / "accounts.csv"
    )
    done = run(
        "schedule", "--once", "--bids", f"{inbox}/", "--out", str(tmp_path / "runs"),
        "--items", str(DATA / "items.csv"), "--accounts", str(tmp_path / "accounts.csv"),
        "--solver", "highs", "--time-limit", "7", "--gap", "0.01",
        "--scheduler", client.scheduler.address,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (run_dir,) = (tmp_path / "runs").glob("sched-*")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["items"].endswith("items.csv")
    config = manifest["config"]
    assert (config["solver"], config["time_limit"], config["gap"]) == ("highs", 7.0, 0.01)
    rejected = pl.read_parquet(run_dir / "rejected")
    banned = rejected.filter(pl.col("reason").str.contains("banned"))
    assert banned.height > 0, "the accounts table was applied"


def test_the_command_leaves_with_its_code_after_exit_handlers_and_flushed_output() -> None:
    # the command skips the interpreter's teardown (Arrow's threads can abort it)
    code = (
        "import atexit; from econonexus.pipelines.ops.signals import exit_with; "
        "atexit.register(lambda: print('handler ran')); print('work done', end=''); exit_with(3)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 3
    assert done.stdout == "work donehandler ran\n"


def test_schedule_stops_cleanly_on_ctrl_c(tmp_path: pathlib.Path) -> None:
    (tmp_path / "inbox").mkdir()
    with subprocess.Popen(
        [*CLI, "schedule", "--cron", "0 0 1 1 *", "--bids", f"{tmp_path}/inbox/",
         "--out", str(tmp_path / "runs")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    ) as process:  # fmt: skip
        assert process.stdout is not None
        started = process.stdout.readline()  # its signal handlers are set: it waits for cron
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    assert started.startswith("scheduled at '0 0 1 1 *'"), (started, err)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "stopping after the current batch" in out and "schedule stopped" in out


def test_serve_on_a_busy_scheduler_port_falls_back_to_a_free_one(tmp_path: pathlib.Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "DASK_ECONONEXUS__CLUSTER__SCHEDULER_FILE": str(tmp_path / "s.json")}
        with subprocess.Popen(
            [*CLI, "serve", "--scheduler-port", str(port), "--port", "0", "--workers", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        ) as process:  # fmt: skip
            assert process.stdout is not None
            lines = []
            for line in process.stdout:
                lines.append(line)
                if line.startswith("serving"):
                    break
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=120)
    said = "".join(lines)
    assert f"scheduler port {port} on 127.0.0.1 is busy; using a free one" in said, err
    address = next(x for x in lines if x.startswith("scheduler: ")).split()[-1]
    assert not address.endswith(f":{port}")
    assert process.returncode == 0 and "Traceback" not in err


@pytest.mark.parametrize("source", ["lazy", "eager"])
def test_a_polars_lazyframe_is_a_source(client: Client, source: str) -> None:
    import econonexus as enx

    frame = pl.read_csv(DATA / "bids.csv").with_columns(pl.col("items").str.split(";"))
    frame = frame.drop("quantities")
    given = frame.lazy() if source == "lazy" else frame
    result = enx.clear(given, client=client)
    assert result.allocations.height + result.rejected_rows == frame.height


def test_an_accounts_file_says_true_and_false_and_a_bad_flag_names_the_agent(
    tmp_path: pathlib.Path,
) -> None:
    from econonexus import InputError
    from econonexus.pipelines.io.accounts import load_accounts

    good = tmp_path / "good.csv"
    good.write_text("agent_id,free_stake,banned\na,1.5,true\nb,2,FALSE\nc,0,\n")
    assert load_accounts(str(good))["banned"].to_list() == [True, False, False]
    bad = tmp_path / "bad.csv"
    bad.write_text("agent_id,free_stake,banned\na,1.5,maybe\n")
    with pytest.raises(
        InputError, match=r"agent 'a' `banned`: expected true or false, got 'maybe'"
    ):
        load_accounts(str(bad))
