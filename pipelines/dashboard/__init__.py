"""The Dask dashboard page, Prometheus metrics, the run monitor and the plots.

May import: the ground floor, agents.event_feed, pipelines.store (results to plot).
"""
