"""The ``econonexus`` command line: clear, demo, generate, simulate, settle, serve, schedule,
report, resume, audit, config.

Exit codes: 0 success, 2 bad usage or unreadable input, 1 a failed run
(an error, or a market whose status is ``error``).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Sequence
from importlib.metadata import version
from typing import TYPE_CHECKING, NoReturn

import polars as pl

from econonexus._core.errors import EconoNexusError, InputError, RunConflictError
from econonexus.agents.journal_audit import audit_journal
from econonexus.agents.pool import AgentPool
from econonexus.pipelines.graph.cluster import connect
from econonexus.pipelines.graph.run import clear
from econonexus.pipelines.io.cats import write_cats_text
from econonexus.pipelines.io.readers import FORMATS
from econonexus.pipelines.io.samples import sample_data
from econonexus.pipelines.ops.cli_args import (
    HelpFormatter,
    add_batch_inputs,
    add_cluster_options,
    add_command,
    add_solver_options,
    add_tls_files,
    batch_options,
)
from econonexus.pipelines.ops.cli_ops import (
    add_ops_commands,
    cluster_of,
    run_ops_command,
    security_of,
)
from econonexus.pipelines.ops.run_report import render_summary
from econonexus.pipelines.ops.settle_run import settle
from econonexus.pipelines.ops.signals import exit_with
from econonexus.pipelines.sim.generate import DISTRIBUTIONS, generate
from econonexus.pipelines.sim.simulate import simulate
from econonexus.pipelines.store.halts import resume
from econonexus.pipelines.store.run_audit import verify_run

if TYPE_CHECKING:
    from econonexus.pipelines.ops.cli_args import Commands

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEMO_SOURCES = ("bids.csv", "auctions.csv", "paths.parquet", "decay.cats")
DESCRIPTION = """\
Batch market clearing among software agents, on Dask: read bid files, validate
them, solve winner determination with PuLP on the cluster, price the result
and write it to Parquet with a manifest.

Exit codes: 0 success; 2 bad usage or unreadable input; 1 a failed run."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="econonexus", description=DESCRIPTION, formatter_class=HelpFormatter
    )
    parser.add_argument(
        "--version", action="version", version=f"econonexus {version('econonexus')}"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    clear = add_command(commands, "clear", "clear bid files and write the run")
    clear.add_argument("sources", nargs="+", metavar="SOURCE", help="bid files or fsspec URLs")
    clear.add_argument("--out", required=True, metavar="URL", help="runs are written to URL/RUN_ID")
    _add_run_options(clear)
    clear.add_argument("--format", choices=FORMATS, help="the format, instead of the extension's")
    demo = add_command(commands, "demo", "clear the sample batch on a LocalCluster")
    demo.add_argument(
        "--data",
        metavar="DIR",
        help="sample data folder (default: the one installed with econonexus, as data/ holds)",
    )
    demo.add_argument("--out", default="econonexus-runs", metavar="URL", help="where runs go")
    _add_run_options(demo)
    _add_generate(commands)
    _add_simulate(commands)
    settle = add_command(commands, "settle", "settle a run's winning bids with the agents")
    settle.add_argument("run", metavar="RUN_URL", help="a stored run: OUT/RUN_ID")
    settle.add_argument("--outcomes", required=True, metavar="URL", help="bid_id, outcome")
    settle.add_argument("--agents", required=True, metavar="ROOT", help="the agent pool's root")
    settle.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another writer of the pool to finish (0: fail at once)",
    )
    add_cluster_options(settle)
    add_ops_commands(commands)
    resume_cmd = add_command(commands, "resume", "lift a market's halt")
    resume_cmd.add_argument("market", metavar="MARKET", help="the halted market's id")
    resume_cmd.add_argument(
        "--out", required=True, metavar="URL", help="where the runs are written"
    )
    _add_audit(commands)
    return parser


def _add_audit(commands: Commands) -> None:
    audit = add_command(commands, "audit", "check a past run or an agent pool's journal")
    audits = audit.add_subparsers(dest="audit_command", required=True)
    verify = add_command(audits, "verify", "re-clear a run from its stored inputs and compare")
    verify.add_argument("run", metavar="RUN_URL", help="a stored run: OUT/RUN_ID")
    add_cluster_options(verify)
    journal = add_command(
        audits, "journal", "verify an agent pool's journal chain and its replay to the snapshots"
    )
    journal.add_argument("root", metavar="ROOT", help="the agent pool's root")


def _add_generate(commands: Commands) -> None:
    gen = add_command(commands, "generate", "write CATS instances from a bid distribution")
    gen.add_argument("--distribution", choices=DISTRIBUTIONS, required=True, help="the CATS family")
    gen.add_argument("--goods", type=int, required=True, metavar="M", help="goods per instance")
    gen.add_argument("--bids", type=int, required=True, metavar="N", help="bids per instance")
    gen.add_argument("--seed", type=int, default=0, metavar="K", help="first instance's seed")
    gen.add_argument("--count", type=int, default=1, metavar="C", help="instances, seeds K..K+C-1")
    gen.add_argument("--out", required=True, metavar="DIR", help="folder of the .cats files")


def _add_simulate(commands: Commands) -> None:
    sim = add_command(commands, "simulate", "run agents in shard actors against the pipeline")
    sim.add_argument("--agents", type=int, required=True, metavar="N", help="agents")
    sim.add_argument("--shards", type=int, required=True, metavar="S", help="shard actors")
    sim.add_argument("--rounds", type=int, required=True, metavar="R", help="bid rounds")
    sim.add_argument("--seed", type=int, default=0, metavar="K", help="random seed")
    sim.add_argument("--out", required=True, metavar="URL", help="results, events, agents.parquet")
    sim.add_argument(
        "--markets", metavar="URL", help="markets table (default: setting simulate.markets)"
    )
    sim.add_argument(
        "--items-per-market", type=int, default=8, metavar="M", help="items each market offers"
    )
    sim.add_argument(
        "--chaos", action="store_true", help="kill shard-holding workers in some rounds"
    )
    add_cluster_options(sim)


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    add_batch_inputs(parser)
    add_solver_options(parser)
    add_cluster_options(parser)
    parser.add_argument("--run-id", metavar="ID", help="the run's id (default: time + hash)")
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        help="a progress bar while the batch clears (default: on a terminal only)",
    )
    add_tls_files(parser, temporary=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "generate":
            return _generate(args)
        if args.command == "simulate":
            return _simulate(args)
        if args.command == "settle":
            return _settle(args)
        if args.command == "audit":
            return _audit(args)
        if (code := run_ops_command(args)) is not None:
            return code
        if args.command == "resume":
            lifted = resume(args.out, args.market)
            print(f"market {args.market}: halt lifted ({lifted['rule']}: {lifted['reason']})")
            return EXIT_OK
        data = getattr(args, "data", None) or str(sample_data())
        sources = args.sources if args.command == "clear" else _demo_sources(data)
        inputs = batch_options(args)
        if args.command == "demo":
            inputs["items"] = args.items or str(pathlib.Path(data) / "items.csv")
            inputs["markets"] = args.markets or str(pathlib.Path(data) / "markets.yaml")
        result = clear(
            sources,
            **inputs,
            client=cluster_of(args),
            run_id=args.run_id,
            out=args.out,
            format=getattr(args, "format", None),
            workers=args.workers,
            security=security_of(args),
            # a bar on a terminal; none in cron logs and pipes unless --progress
            progress=args.progress if args.progress is not None else sys.stdout.isatty() or None,
        )
    except (InputError, RunConflictError) as exc:
        print(f"econonexus: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except EconoNexusError as exc:
        print(f"econonexus: run failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(render_summary(result))
    return EXIT_OK if result.status == "completed" else EXIT_FAILED


def _demo_sources(data: str) -> list[str]:
    folder = pathlib.Path(data)
    missing = [name for name in DEMO_SOURCES if not (folder / name).exists()]
    if missing:
        raise InputError(
            f"`--data`: expected the sample files {', '.join(DEMO_SOURCES)} in {str(folder)!r}, "
            f"missing {', '.join(missing)}\nhint: leave out --data for the installed sample data"
        )
    return [str(folder / name) for name in DEMO_SOURCES]


def _simulate(args: argparse.Namespace) -> int:
    result = simulate(
        agents=args.agents,
        shards=args.shards,
        rounds=args.rounds,
        seed=args.seed,
        out=args.out,
        markets=args.markets,
        items_per_market=args.items_per_market,
        chaos=args.chaos,
        client=cluster_of(args),
        workers=args.workers,
        log=print,
    )
    print(
        f"{result.agents.height} agents after {result.rounds.height} rounds: "
        f"{result.out}/agents.parquet"
    )
    return EXIT_OK


def _settle(args: argparse.Namespace) -> int:
    with (
        connect(cluster_of(args), n_workers=args.workers) as client,
        AgentPool.open(client, args.agents, wait=args.wait) as pool,
    ):
        report = settle(args.run, args.outcomes, pool=pool)
    print(report.message)
    print("totals: " + ", ".join(f"{k} {v:.2f}" for k, v in report.totals.items()))
    return EXIT_OK if report.ok else EXIT_FAILED


def _audit(args: argparse.Namespace) -> int:
    if args.audit_command == "journal":
        return _audit_journal(args.root)
    with connect(cluster_of(args), n_workers=args.workers) as client:
        report = verify_run(args.run, client=client)
    if report.ok:
        print(
            f"run {report.run_id}: verified: every file matches its hash, "
            f"{report.checked} bids re-cleared, all match"
        )
        return EXIT_OK
    print(f"run {report.run_id}: MISMATCH in {report.mismatches.height} of {report.checked} bids")
    for line in report.findings:
        print(f"  {line}")
    if report.time_limited:
        print("note: the run stopped at a solver time limit, so a re-clear may differ")
    with pl.Config(tbl_rows=20, tbl_hide_dataframe_shape=True):
        print(report.mismatches.head(20))
    return EXIT_FAILED


def _audit_journal(root: str) -> int:
    checked = audit_journal(root)
    if checked.ok:
        print(
            f"journal {checked.root}: verified: {checked.entries} entries, {checked.events} "
            f"events, chain intact, {checked.shards} shards replay to their snapshots"
        )
        return EXIT_OK
    print(f"journal {checked.root}: {len(checked.problems)} problems")
    for problem in checked.problems:
        print(f"  {problem}")
    return EXIT_FAILED


def _generate(args: argparse.Namespace) -> int:
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for seed in range(args.seed, args.seed + args.count):
        name = f"{args.distribution}-g{args.goods}-b{args.bids}-s{seed}"
        bids = generate(
            args.distribution, goods=args.goods, bids=args.bids, seed=seed, market_id=name
        )
        comment = (
            f"econonexus generate --distribution {args.distribution} --goods {args.goods}"
            f" --bids {args.bids} --seed {seed}"
        )
        path = out / f"{name}.cats"
        path.write_text(write_cats_text(bids, comment=comment))
        print(path)
    return EXIT_OK


def run() -> NoReturn:
    """The ``econonexus`` command: :func:`main`, leaving with its exit code."""
    exit_with(main())


if __name__ == "__main__":
    run()
