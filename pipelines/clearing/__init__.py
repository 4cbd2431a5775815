"""Clearing logic that needs no integer program, and the rows a cleared market yields.

Lives here: single-item sealed and clock markets, ``clock`` price discovery,
and the allocation/summary/price rows of one market. Pure functions. May
import: the ground floor, solvers, pipelines.graph.options.
"""
