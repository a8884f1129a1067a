"""The JSON the service takes and returns (pydantic v2, strict: an int is not a float's stand-in,
a str never becomes a number, unknown fields are refused)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

Id = StrictInt | StrictStr
UserId = StrictInt | StrictStr | list[StrictInt | StrictStr]
Number = StrictFloat | StrictInt


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RerankRequest(Strict):
    user: UserId
    candidates: list[Id] = Field(max_length=100_000)
    k: StrictInt = 10
    scores: list[Number] | None = None
    exclude_seen: StrictBool | None = None
    query: StrictStr | None = None
    now: Number | None = None


class Ranked(Strict):
    item: Id
    score: float


class RerankResponse(Strict):
    items: list[Ranked]
    took_us: float = Field(description="time spent in Reranker.rerank, microseconds")


class ExplainRequest(Strict):
    user: UserId
    item: Id
    scores: Number | None = None
    query: StrictStr | None = None
    now: Number | None = None


class ExplainResponse(Strict):
    score: float
    parts: dict[str, float]
    reasons: list[str]


class Event(Strict):
    """An event on an item (`item`, kind click/like/...) or text the user wrote (`text`, kind
    query/review/post)."""

    user: UserId
    item: Id | None = None
    text: StrictStr | None = None
    kind: StrictStr | None = None
    timestamp: Number | None = None
    weight: Number | None = None
    count: StrictBool = True


class EventBatch(Strict):
    events: list[Event] = Field(max_length=10_000)


class Accepted(Strict):
    accepted: int = Field(description="events the store has acknowledged")


class ItemsRequest(Strict):
    ids: list[Id] = Field(max_length=100_000)
    texts: list[StrictStr] | None = None
    vectors: list[list[Number]] | None = None
    metadata: list[Any] | None = None


class RemoveItemsRequest(Strict):
    ids: list[Id] = Field(max_length=100_000)


class ItemsResponse(Strict):
    items: int = Field(description="items in the catalog now")


class Forgotten(Strict):
    forgotten: bool


class Problem(Strict):
    """Every error: what kind, and a message naming the field."""

    error: str
    detail: str
