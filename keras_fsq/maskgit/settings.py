"""How a MaskGIT samples: the one place its sampling defaults live (``generate``, ``generate_tokens``,
``keras-fsq generate`` and the generator presets' ``sampling`` all read ``SamplingSettings``)."""

import dataclasses
from typing import Any

from keras_fsq.validation import number_at_least, positive_int


@dataclasses.dataclass(frozen=True)
class SamplingSettings:
    """MaskGIT's sampling settings (``keras_fsq.maskgit.sampler``), checked when made.

    Args:
        steps: parallel decoding steps ``S``.
        temperature: of the token softmax, ``> 0``.
        guidance: classifier-free guidance ``g >= 0`` (0: none; it needs class labels).
        choice_temperature: scale of the Gumbel noise on the confidences that choose which samples stay
            (0: the most confident, deterministically).
    """

    steps: int = 8
    temperature: float = 1.0
    guidance: float = 0.0
    choice_temperature: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", positive_int(self.steps, "steps"))
        object.__setattr__(self, "temperature", number_at_least(self.temperature, "temperature", strict=True))
        object.__setattr__(self, "guidance", number_at_least(self.guidance, "guidance"))
        object.__setattr__(self, "choice_temperature", number_at_least(self.choice_temperature, "choice_temperature"))

    def with_changes(self, **changes: Any) -> "SamplingSettings":
        """These settings with the given fields changed (``ValueError`` naming an unknown one)."""
        fields = {field.name for field in dataclasses.fields(self)}
        unknown = sorted(set(changes) - fields)
        if unknown:
            raise ValueError(f"Unknown sampling setting(s) {unknown}; the settings are {sorted(fields)}.")
        return dataclasses.replace(self, **changes)
