"""Request schemas shared by the API modules."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Schema(BaseModel):
    """Request bodies refuse unknown fields."""

    model_config = ConfigDict(extra="forbid")


class MemberTarget(Schema):
    member: Annotated[str, Field(min_length=1, max_length=64,
                                 description="@username or numeric member id")]


Password = Annotated[str, Field(min_length=1, max_length=256)]
Email = Annotated[str, Field(min_length=3, max_length=254)]
Token = Annotated[str, Field(min_length=10, max_length=100)]
