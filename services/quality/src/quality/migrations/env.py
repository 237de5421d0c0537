import portal_kit.events.tables  # noqa: F401  (outbox, inbox, dead letters)
from portal_kit.migrations import run_env
from sqlmodel import SQLModel

import quality.models  # noqa: F401

run_env(SQLModel.metadata)
