"""Ready-made example graphs, each built from the public API and exposing a compiled `graph`.

They run offline: their data sources are simulated (with realistic latency) and say so in
their output. Swap in real providers through each module's `build()` arguments. On the
simulated model they answer with `TemplateAnswers`, text that reads like theirs.
"""

from langgraph_parallel.templates._answers import TemplateAnswers
from langgraph_parallel.templates._registry import TEMPLATES, Template

__all__ = ["TEMPLATES", "Template", "TemplateAnswers"]
