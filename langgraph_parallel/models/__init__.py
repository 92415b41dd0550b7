"""Chat models: resolve one from an instance or a spec, or fall back to the offline simulator."""

from langgraph_parallel.models.simulated import (
    SIMULATED_NOTICE,
    Latency,
    SimulatedChatModel,
    SimulatedModelError,
)

__all__ = ["SIMULATED_NOTICE", "Latency", "SimulatedChatModel", "SimulatedModelError"]
