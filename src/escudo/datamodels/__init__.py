"""CIM data models as data: datasets, their fields, and where SQL finds them.

``escudo.datamodels.cim`` holds the field lists; ``escudo.datamodels.mappings`` the per-sourcetype
field mappings; ``escudo.datamodels.normalize`` turns raw source records into CIM rows.
"""

from __future__ import annotations

from escudo.datamodels.cim import DATASETS, Dataset, get_dataset, relation_name

__all__ = ["DATASETS", "Dataset", "get_dataset", "relation_name"]
