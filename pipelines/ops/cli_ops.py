"""Operations commands of the CLI: serve, schedule, report, config show."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import dask.config
import yaml
from distributed import Client
from distributed.security import Security

from econonexus._core.errors import InputError
from econonexus.pipelines.graph.cluster import connect
from econonexus.pipelines.graph.scheduler_file import scheduler_address
from econonexus.pipelines.ops.cli_args import (
    add_batch_inputs,
    add_cluster_options,
    add_command,
    add_solver_options,
    add_tls_files,
    batch_options,
)
from econonexus.pipelines.ops.run_report import render_summary, report_text, write_html
from econonexus.pipelines.ops.schedule import run_forever, run_pending
from econonexus.pipelines.ops.serve import serve
from econonexus.pipelines.ops.signals import stop_on_signals
from econonexus.pipelines.store.clearing_result import load_run

if TYPE_CHECKING:
    from econonexus.pipelines.ops.cli_args import Commands

EXIT_OK, EXIT_FAILED = 0, 1


def add_ops_commands(commands: Commands) -> None:
    """Add ``serve``, ``schedule``, ``report`` and ``config`` to the CLI."""
    srv = add_command(
        commands, "serve", "start a cluster with the EconoNexus dashboard page (or add it to one)"
    )
    srv.add_argument("--port", type=int, default=8787, metavar="P", help="dashboard port")
    srv.add_argument(
        "--scheduler-port",
        type=int,
        default=8786,
        metavar="P",
        help="scheduler port (a busy one falls back to a free port)",
    )
    srv.add_argument(
        "--workers", type=int, metavar="N", help="workers (default: setting cluster.n-workers)"
    )
    srv.add_argument("--host", default="127.0.0.1", help="interface to bind")
    srv.add_argument("--scheduler", metavar="ADDRESS", help="add the page to this scheduler")
    add_tls_files(srv)
    sched = add_command(commands, "schedule", "clear each new bid file under a prefix, on a cron")
    sched.add_argument("--cron", metavar="EXPR", help='cron expression (UTC), e.g. "*/5 * * * *"')
    sched.add_argument("--once", action="store_true", help="handle what is pending now, then exit")
    sched.add_argument("--bids", required=True, metavar="URL_PREFIX", help="bid files to watch")
    sched.add_argument("--out", required=True, metavar="URL", help="runs, ledger and lock")
    add_batch_inputs(sched)
    add_solver_options(sched)
    add_cluster_options(sched)
    add_tls_files(sched, temporary=True)
    report = add_command(commands, "report", "print a run's summary; --html writes its plots")
    report.add_argument("run", metavar="RUN_URL", help="a stored run: OUT/RUN_ID")
    report.add_argument("--html", metavar="FILE", help="write a standalone page with Bokeh plots")
    config = add_command(commands, "config", "show the settings in effect")
    config.add_argument("action", choices=["show"], help="show: print them as YAML")


def cluster_of(args: argparse.Namespace) -> str | None:
    """The scheduler the options, ``DASK_SCHEDULER_ADDRESS`` or ``serve``'s file name; else None."""
    return scheduler_address(args.scheduler, args.scheduler_file)


def security_of(args: argparse.Namespace) -> Security | bool | None:
    """The TLS settings the options ask for."""
    files = (args.tls_ca, args.tls_cert, args.tls_key)
    if any(files):
        if not all(files):
            raise InputError("`--tls-ca`/`--tls-cert`/`--tls-key`: expected all three files")
        ca, cert, key = files
        return Security(
            tls_ca_file=ca,
            tls_client_cert=cert,
            tls_client_key=key,
            tls_scheduler_cert=cert,
            tls_scheduler_key=key,
            tls_worker_cert=cert,
            tls_worker_key=key,
            require_encryption=True,
        )
    return True if getattr(args, "tls", False) else None


def run_ops_command(args: argparse.Namespace) -> int | None:
    """Run an operations command; ``None`` if ``args`` is not one."""
    if args.command == "serve":
        security = security_of(args)
        assert not isinstance(security, bool)  # serve has no --tls: its clients need the files
        serve(
            port=args.port,
            scheduler_port=args.scheduler_port,
            workers=args.workers,
            scheduler=args.scheduler,
            host=args.host,
            security=security,
            log=lambda line: print(line, flush=True),
        )
        return EXIT_OK
    if args.command == "schedule":
        return _schedule(args)
    if args.command == "report":
        run = load_run(args.run)
        print(report_text(run, render_summary(run)))
        if args.html:
            print(f"plots: {write_html(run, args.html)}")
        return EXIT_OK
    if args.command == "config":
        print(yaml.safe_dump({"econonexus": dask.config.get("econonexus")}, sort_keys=False))
        return EXIT_OK
    return None


def _schedule(args: argparse.Namespace) -> int:
    if args.once == bool(args.cron):
        raise InputError("`--cron`/`--once`: expected exactly one of them")
    address, security = cluster_of(args), security_of(args)
    if address is None and security is None:
        # this process's LocalCluster starts at the first pending batch and serves them all
        if args.workers is not None:
            dask.config.set({"econonexus.cluster.n-workers": args.workers})
        return _schedule_with(args, None)
    with connect(address, n_workers=args.workers, security=security) as client:
        return _schedule_with(args, client)


def _schedule_with(args: argparse.Namespace, client: Client | None) -> int:
    inputs = batch_options(args)
    if args.once:
        records = run_pending(args.bids, args.out, inputs=inputs, client=client)
        return EXIT_FAILED if any(r["status"] == "failed" for r in records) else EXIT_OK
    stop = stop_on_signals(lambda: print("stopping after the current batch", flush=True))
    print(f"scheduled at {args.cron!r} (UTC); Ctrl+C stops after the batch in hand", flush=True)
    run_forever(args.cron, args.bids, args.out, inputs=inputs, client=client, stop=stop)
    print("schedule stopped", flush=True)
    return EXIT_OK
