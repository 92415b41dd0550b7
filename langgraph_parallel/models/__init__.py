"""Chat models: resolve one from an instance or a spec, or fall back to the offline simulator."""

from langgraph_parallel.models._resolve import (
    DEFAULT_OPENAI_MODEL,
    MODEL_ENV,
    ModelLike,
    is_simulated,
    resolve_model,
)
from langgraph_parallel.models.simulated import (
    SIMULATED_NOTICE,
    Latency,
    SimulatedChatModel,
    SimulatedModelError,
)

__all__ = [
    "DEFAULT_OPENAI_MODEL",
    "MODEL_ENV",
    "SIMULATED_NOTICE",
    "Latency",
    "ModelLike",
    "SimulatedChatModel",
    "SimulatedModelError",
    "is_simulated",
    "resolve_model",
]
