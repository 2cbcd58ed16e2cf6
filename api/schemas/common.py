"""What every resource's bodies share: bounded ids, weekdays, attribute values, pagination."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

# Ids are database integers: anything outside 1..2^31-1 cannot exist, and is refused here
# rather than overflowing a driver.
# Strict: `true` is not the id 1, nor "3" the weekday 3 (JSON has numbers for that).
Id = Annotated[int, Field(ge=1, le=2**31 - 1, strict=True)]
Weekday = Annotated[int, Field(ge=0, le=6, strict=True)]
# An attribute condition's value: Infinity and NaN are refused (JSON has neither; dumped for the
# domain they would silently become null).
Finite = Annotated[float, Field(allow_inf_nan=False)]
Scalar = bool | int | Finite | str | None


class Pagination(BaseModel):
    count: int = Field(description="Rows matching, over all pages")
    page: int
    per_page: int
