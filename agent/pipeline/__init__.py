"""The experiment pipeline: a LangGraph state graph from a complete request to a report."""

from agent.pipeline.graph import build_graph, run_pipeline

__all__ = ["build_graph", "run_pipeline"]
