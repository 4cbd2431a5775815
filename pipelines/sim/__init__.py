"""Simulation and instance generation: agents bidding against the pipeline, CATS families.

May import: the ground floor, solvers, agents, pipelines.graph, store, ops.settle_run.
"""
