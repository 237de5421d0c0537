from sqlmodel import SQLModel

import portal_kit.events.tables  # noqa: F401  (outbox, inbox, dead letters)
import harvest_export.models  # noqa: F401
from portal_kit.migrations import run_env

run_env(SQLModel.metadata)
