"""Operations: the CLI, scheduled runs, serving a cluster, settlement, reports.

May import: everything below it (ground floor, solvers, agents, the other
pipelines subpackages); nothing imports it but the package face.
"""
