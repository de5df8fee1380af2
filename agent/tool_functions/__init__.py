"""The plain functions the agent's tools are, by what they work on; :mod:`agent.toolset` wraps them.

Each function's Google-style docstring is what the model reads.
"""
