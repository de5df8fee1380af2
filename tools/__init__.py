"""Deterministic, LLM-free tools: data, training, tuning, jobs and tracking.

Nothing under ``tools`` imports langchain, rich or Slack code, so every tool can be called from a
test or a script with no model in the loop.
"""
