"""Events the harvest-export service publishes (stream ``HARVEST``, subjects ``harvest.>``).

- ``harvest.dataset.validated``: data = DatasetValidated, subject = the dataset id. Recorded when a
  published dataset's DCAT-AP export is built and its SHACL result differs from the last one
  announced (conforms changed, or the set of violations changed); an unchanged rebuild announces
  nothing. Order by ``(revision, validated_at)``: a result may be recomputed for the same catalog
  revision (the organization or the quality assessment changed the export).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

DCAT_AP_PROFILE = "DCAT-AP 3.0.1"
MAX_VIOLATIONS = 20


class DatasetValidated(BaseModel):
    model_config = ConfigDict(extra="ignore")

    dataset_id: uuid.UUID
    revision: int  # the catalog revision of the dataset that was validated
    conforms: bool
    # the first MAX_VIOLATIONS SHACL violation messages ("<focus node> <path>: <message>"), sorted
    violations: list[str] = Field(default_factory=list)
    profile: str = DCAT_AP_PROFILE
    validated_at: datetime
