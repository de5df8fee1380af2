"""The five-section experiment report and its renderers (terminal, plain text, Markdown, JSON, Slack)."""

from agent.report.render_json import render_json
from agent.report.render_markdown import render_markdown
from agent.report.render_rich import print_report, render_rich
from agent.report.render_slack import render_slack
from agent.report.render_text import render_text

__all__ = [
    "print_report",
    "render_json",
    "render_markdown",
    "render_rich",
    "render_slack",
    "render_text",
]
