"""The Dask graph of a batch: one clearing run from inputs to gathered outputs.

Lives here: ``clear`` (:mod:`.run`), the batch graph and its market tasks,
data transfer, options, the cluster connection, progress and live run status.
May import: the ground floor, solvers, agents, pipelines.io, clearing, store.
"""
