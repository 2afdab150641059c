"""Request schemas shared by the API modules."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field


class Schema(BaseModel):
    """Request bodies refuse unknown fields."""

    model_config = ConfigDict(extra="forbid")


class MemberTarget(Schema):
    member: Annotated[str, Field(min_length=1, max_length=64,
                                 description="@username or numeric member id")]


MAX_ID = 2**63 - 1
# A row id: anything else is invalid input, never a database error.
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]

Password = Annotated[str, Field(min_length=1, max_length=256)]
Email = Annotated[str, Field(min_length=3, max_length=254)]
Token = Annotated[str, Field(min_length=10, max_length=100)]
