"""`python -m langgraph_parallel`: the command-line interface."""

from langgraph_parallel.cli import main

raise SystemExit(main())
