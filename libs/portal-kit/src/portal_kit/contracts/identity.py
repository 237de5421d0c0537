"""Events the gateway publishes (stream ``IDENTITY``, subjects ``identity.>``).

- ``identity.user.created``: data = UserChanged
- ``identity.user.updated``: data = UserChanged (roles, name, active flag; never the password)
- ``identity.membership.changed``: data = MembershipChanged (``role`` None = removed)
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict


class UserChanged(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID
    email: str
    full_name: str
    roles: list[str]
    is_active: bool
    revision: int
    updated_at: datetime


class MembershipChanged(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user_id: uuid.UUID
    organization_id: uuid.UUID
    role: str | None = None
    previous_role: str | None = None
    changed_by: uuid.UUID | None = None
    changed_at: datetime
