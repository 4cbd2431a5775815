"""Options the CLI's commands share, named and explained once.

``clear``, ``demo`` and ``schedule`` take the same batch inputs and solver
options as :func:`econonexus.clear`; every command that runs on a cluster
takes Dask's own ``--scheduler``/``--scheduler-file``/``--workers``. Help
lines show each option's default.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TypeAlias, TypedDict

from econonexus._core.schemas import SOLVER_CHOICES, SolverChoice

if TYPE_CHECKING:
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


class BatchInputs(TypedDict):
    """The keyword arguments of :func:`econonexus.clear` that the batch options give."""

    items: str | None
    markets: str | None
    accounts: str | None
    keys: str | None
    solver: SolverChoice | str | None
    time_limit: float | None
    batch_time_limit: float | None
    gap: float | None


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """One help line per option, ending with its default when it has one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = action.default is None or action.default is False  # not 0, which is shown
        shown = not unset and action.default != argparse.SUPPRESS and action.option_strings
        if shown and "(default" not in text:
            text += " (default: %(default)s)"
        return text


def add_command(commands: Commands, name: str, summary: str) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` starts with ``summary`` and shows the defaults."""
    return commands.add_parser(
        name, help=summary, description=summary, formatter_class=HelpFormatter
    )


def add_batch_inputs(parser: argparse.ArgumentParser) -> None:
    """``--items``, ``--markets``, ``--accounts`` and ``--keys``: the tables beside the bids."""
    parser.add_argument("--items", metavar="URL", help="items table: supply and reserve per item")
    parser.add_argument(
        "--markets", metavar="URL", help="markets table: format and payment rule per market"
    )
    parser.add_argument(
        "--accounts",
        metavar="URL",
        help="agents' accounts: agent_id, free_stake, reputation, banned",
    )
    parser.add_argument(
        "--keys", metavar="URL", help="agents' signing keys (agent_id, key) for signed markets"
    )


def add_solver_options(parser: argparse.ArgumentParser) -> None:
    """``--solver``, ``--time-limit``, ``--batch-time-limit`` and ``--gap``."""
    parser.add_argument(
        "--solver",
        type=_solver,
        metavar="{" + ",".join(SOLVER_CHOICES) + ",pulp:NAME}",
        help="MIP backend; auto picks one per component; pulp:NAME any solver PuLP runs here,"
        " e.g. pulp:GUROBI (default: setting solver.backend)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        metavar="S",
        help="seconds per component (default: setting solver.time-limit)",
    )
    parser.add_argument(
        "--batch-time-limit",
        type=float,
        metavar="S",
        help="seconds for the whole clear (default: setting solver.batch-time-limit)",
    )
    parser.add_argument(
        "--gap", type=float, metavar="G", help="relative MIP gap (default: setting solver.gap)"
    )


def _solver(value: str) -> str:
    if value in SOLVER_CHOICES or value.startswith("pulp:"):
        return value
    raise argparse.ArgumentTypeError(
        f"invalid choice: {value!r} (choose from {', '.join(SOLVER_CHOICES)} or pulp:NAME)"
    )


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """``--scheduler``, ``--scheduler-file`` and ``--workers``, as Dask's own commands name them."""
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="use this Dask scheduler (default: DASK_SCHEDULER_ADDRESS, a running serve,"
        " else a LocalCluster)",
    )
    parser.add_argument(
        "--scheduler-file", metavar="FILE", help="use the scheduler named in this Dask file"
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="LocalCluster workers (default: setting cluster.n-workers)",
    )


def add_tls_files(parser: argparse.ArgumentParser, *, temporary: bool = False) -> None:
    """``--tls-ca/--tls-cert/--tls-key`` (and ``--tls`` for temporary local certificates)."""
    if temporary:
        parser.add_argument(
            "--tls", action="store_true", help="Dask TLS, with temporary certificates locally"
        )
    parser.add_argument("--tls-ca", metavar="FILE", help="CA certificate of the cluster")
    parser.add_argument("--tls-cert", metavar="FILE", help="this process's certificate")
    parser.add_argument("--tls-key", metavar="FILE", help="this process's private key")


def batch_options(args: argparse.Namespace) -> BatchInputs:
    """The keyword arguments of :func:`econonexus.clear` that the batch options give."""
    return {
        "items": args.items,
        "markets": args.markets,
        "accounts": args.accounts,
        "keys": args.keys,
        "solver": args.solver,
        "time_limit": args.time_limit,
        "batch_time_limit": args.batch_time_limit,
        "gap": args.gap,
    }
