"""Input: read bid, item, market and account sources, and validate bids.

Lives here: the readers (fsspec, Parquet/CSV/IPC/CATS), normalisation,
validation and its rules (format, accounts, signatures), the items, markets
and accounts tables. May import: the ground floor, solvers, agents.
"""
