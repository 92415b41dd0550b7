"""Chat models: resolve one from an instance or a spec, or fall back to the offline simulator.

Names are imported on first use: LangChain's model classes are slow to import.
"""

from typing import TYPE_CHECKING

from langgraph_parallel._lazy import lazy as _lazy

if TYPE_CHECKING:
    from langgraph_parallel.engine.http import loop_safe
    from langgraph_parallel.engine.per_loop import LoopSafeAsyncTransport
    from langgraph_parallel.models._resolve import (
        DEFAULT_OPENAI_MODEL,
        MODEL_ENV,
        ModelLike,
        is_simulated,
        resolve_model,
    )
    from langgraph_parallel.models.simulated import (
        SIMULATED_NOTICE,
        Answers,
        Latency,
        SimulatedCall,
        SimulatedChatModel,
        SimulatedModelError,
    )
    from langgraph_parallel.models.structured import structured_output

_WHERE = {
    "loop_safe": "langgraph_parallel.engine.http",
    "LoopSafeAsyncTransport": "langgraph_parallel.engine.per_loop",
    **dict.fromkeys(
        ["DEFAULT_OPENAI_MODEL", "MODEL_ENV", "ModelLike", "is_simulated", "resolve_model"],
        "langgraph_parallel.models._resolve",
    ),
    **dict.fromkeys(
        [
            "SIMULATED_NOTICE",
            "Answers",
            "Latency",
            "SimulatedCall",
            "SimulatedChatModel",
            "SimulatedModelError",
        ],
        "langgraph_parallel.models.simulated",
    ),
}
_WHERE["structured_output"] = "langgraph_parallel.models.structured"
__getattr__, __dir__ = _lazy(__name__, _WHERE, globals())

__all__ = [
    "DEFAULT_OPENAI_MODEL",
    "MODEL_ENV",
    "SIMULATED_NOTICE",
    "Answers",
    "Latency",
    "LoopSafeAsyncTransport",
    "ModelLike",
    "SimulatedCall",
    "SimulatedChatModel",
    "SimulatedModelError",
    "is_simulated",
    "loop_safe",
    "resolve_model",
    "structured_output",
]
