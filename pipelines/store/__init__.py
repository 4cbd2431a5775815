"""The run store under ``OUT/``: writing and reading runs, manifests, results, audit.

Lives here: the run store (paths, create-if-absent publish, hashes), the
manifest and events of a run, the :class:`ClearingResult` and its views, and
``audit verify``. May import: the ground floor, solvers, agents, pipelines.io,
and pipelines.graph (audit re-clears a run).
"""
