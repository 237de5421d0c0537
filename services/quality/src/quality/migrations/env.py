import portal_kit.events.tables  # noqa: F401  (outbox, inbox, dead letters)
import quality.models  # noqa: F401
from portal_kit.migrations import run_env
from sqlmodel import SQLModel

run_env(SQLModel.metadata)
