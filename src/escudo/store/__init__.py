"""escudo's store: one directory of Parquet data sets (events, results, risk events, findings)."""
