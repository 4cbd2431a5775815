"""Operations commands of the CLI: serve, schedule, report, config show."""

from __future__ import annotations

import argparse

import dask.config
import yaml
from distributed import Client
from distributed.security import Security

from econonexus._core.errors import InputError
from econonexus.pipelines.graph.cluster import connect
from econonexus.pipelines.graph.scheduler_file import scheduler_address
from econonexus.pipelines.ops.run_report import render_summary, report_text, write_html
from econonexus.pipelines.ops.schedule import run_forever, run_pending
from econonexus.pipelines.ops.serve import serve
from econonexus.pipelines.store.clearing_result import load_run

EXIT_OK, EXIT_FAILED = 0, 1


def add_ops_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``serve``, ``schedule``, ``report`` and ``config`` to the CLI."""
    srv = commands.add_parser(
        "serve", help="start a cluster with the EconoNexus dashboard page (or add it to one)"
    )
    srv.add_argument("--port", type=int, default=8787, metavar="P", help="dashboard port (8787)")
    srv.add_argument("--scheduler-port", type=int, default=8786, metavar="P", help="(8786)")
    srv.add_argument("--workers", type=int, metavar="N", help="LocalCluster workers")
    srv.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    srv.add_argument("--scheduler", metavar="ADDRESS", help="add the page to this scheduler")
    add_tls_files(srv)
    sched = commands.add_parser(
        "schedule", help="clear each new bid file under a prefix, on a cron"
    )
    sched.add_argument("--cron", metavar="EXPR", help='cron expression (UTC), e.g. "*/5 * * * *"')
    sched.add_argument("--once", action="store_true", help="handle what is pending now, then exit")
    sched.add_argument("--bids", required=True, metavar="URL_PREFIX", help="bid files to watch")
    sched.add_argument("--out", required=True, metavar="URL", help="runs, ledger and lock")
    sched.add_argument("--markets", metavar="URL", help="markets table")
    add_cluster_options(sched)
    add_tls_files(sched, temporary=True)
    report = commands.add_parser("report", help="print a run's summary; --html writes its plots")
    report.add_argument("run", metavar="RUN_URL", help="a stored run: OUT/RUN_ID")
    report.add_argument("--html", metavar="FILE", help="write a standalone page with Bokeh plots")
    config = commands.add_parser("config", help="show the settings in effect")
    config.add_argument("action", choices=["show"])


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """``--scheduler``, ``--scheduler-file`` and ``--workers``, as Dask's own commands name them."""
    parser.add_argument("--scheduler", metavar="ADDRESS", help="use this Dask scheduler")
    parser.add_argument(
        "--scheduler-file", metavar="FILE", help="use the scheduler named in this Dask file"
    )
    parser.add_argument("--workers", type=int, metavar="N", help="LocalCluster workers")


def cluster_of(args: argparse.Namespace) -> str | None:
    """The scheduler the options, ``DASK_SCHEDULER_ADDRESS`` or ``serve``'s file name; else None."""
    return scheduler_address(args.scheduler, args.scheduler_file)


def add_tls_files(parser: argparse.ArgumentParser, *, temporary: bool = False) -> None:
    """``--tls-ca/--tls-cert/--tls-key`` (and ``--tls`` for temporary local certificates)."""
    if temporary:
        parser.add_argument("--tls", action="store_true", help="Dask TLS (temporary certs locally)")
    parser.add_argument("--tls-ca", metavar="FILE", help="CA certificate of the cluster")
    parser.add_argument("--tls-cert", metavar="FILE", help="this process's certificate")
    parser.add_argument("--tls-key", metavar="FILE", help="this process's private key")


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
    options = {"markets": args.markets, "client": client}
    if args.once:
        records = run_pending(args.bids, args.out, **options)
        return EXIT_FAILED if any(r["status"] == "failed" for r in records) else EXIT_OK
    run_forever(args.cron, args.bids, args.out, **options)
    return EXIT_OK
