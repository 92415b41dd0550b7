"""`python -m langgraph_parallel`: run the demo."""

from langgraph_parallel._demo import main

main()
