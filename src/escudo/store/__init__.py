"""The store: one directory of hive-partitioned Parquet (events, risk events, findings, results)
with per-input checkpoints and atomic commits (docs/architecture.md "Store")."""
