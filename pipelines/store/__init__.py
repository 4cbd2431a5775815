"""The run store under ``OUT/``: writing and reading runs, manifests, results, audit, halts.

Lives here: the run store (create-if-absent publish, hashes), ``RunStore``
(every other folder under ``OUT/``: halts, history, carry-over, signed bids,
the schedule's ledger), the manifest and events of a run, the
:class:`ClearingResult` and its views, ``audit verify``, and the market halts
decided after each run. May import: the ground floor, solvers, agents, pipelines.io,
and pipelines.graph (audit re-clears a run).
"""
