"""What a model needs from the pipeline around it: its name, labels, attention pattern and input contract.

A `ModelCard` travels with every model (`model.card`), is saved beside our checkpoints, and is copied
into an exported bundle's `model.json`. Everything about the input — frames, size, tokenization,
sampling, resize, normalisation — is the card's `input` (`models.contract.InputContract`), declared once.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from models.contract import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    KINETICS_MEAN,
    KINETICS_STD,
    InputContract,
    ResizePolicy,
    SamplingPolicy,
    check_fields,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "KINETICS_MEAN",
    "KINETICS_STD",
    "InputContract",
    "ModelCard",
    "ResizePolicy",
    "SamplingPolicy",
]


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    """Facts about a model that decoding, preprocessing and answering depend on.

    `architecture` e.g. "timesformer", "vivit", "videomae"; `attention` the pattern its blocks implement
    (e.g. "divided_space_time", "joint_space_time", "space_only", "factorised_encoder"); `input` the
    contract with the pipeline; `extra` training facts and results (informational).
    """

    name: str
    architecture: str
    attention: str
    labels: tuple[str, ...]
    input: InputContract
    version: str = "1"
    source: str = ""  # where the weights came from (path or description); informational
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.labels:
            raise ValueError("a model card needs at least one label")
        object.__setattr__(self, "labels", tuple(self.labels))

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def with_input(self, **changes: Any) -> ModelCard:
        """The card with some input-contract fields changed (`num_frames=16`, `mean=…`)."""
        return replace(self, input=replace(self.input, **changes))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        data["input"] = self.input.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """Read a card; the flat layout of cards written before the input contract is accepted too."""
        values = dict(data)
        if "input" not in values:  # legacy flat card: the contract's fields sat beside the name
            values["input"] = {k: values.pop(k) for k in InputContract.field_names() & set(data)}
        check_fields(cls, values, "model card")
        contract = values["input"]
        if isinstance(contract, dict):
            values["input"] = InputContract.from_dict(contract)
        values["labels"] = tuple(values.get("labels", ()))
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)
