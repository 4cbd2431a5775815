"""Pure solvers: bids in, allocations out. No Dask, no file I/O."""
