"""Dataflow and I/O: readers, validation, the Dask graph of a batch, outputs, CLI."""
