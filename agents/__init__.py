"""Agents: pure state machines and the Dask actor shells that host them."""
