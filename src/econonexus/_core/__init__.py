"""The ground floor every layer stands on: errors, config access, table schemas, market settings.

Lives here: the error hierarchy (:mod:`.errors`), ``dask.config`` access to the
``econonexus.yaml`` defaults (:mod:`.config`), every table schema with the
status, format and solver names (:mod:`.schemas`), the per-market settings
(:mod:`.market_settings`), and how frames are pickled between processes
(:mod:`.transport`). May import: numpy, polars, pyarrow, dask.config, yaml.
Imports nothing else of EconoNexus.
"""
