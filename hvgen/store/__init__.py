"""A run directory on disk: the DuckDB catalog, shard manifests, atomic writes, the file layout
and what work is finished. The bottom of the engine: any part may import it; it imports only
`hvgen.errors` and `hvgen.records`."""
