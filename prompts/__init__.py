"""Prompt templates and example prompt files, shipped as package data.

Templates are rendered strictly: a variable the template uses but the caller did not pass is an
error, never an empty string in front of a model.
"""

from __future__ import annotations

import string
from importlib import resources
from pathlib import Path


class TemplateError(KeyError):
    """A template needs a variable the caller did not pass."""


def template_names() -> list[str]:
    """Return the names of the bundled templates."""
    folder = resources.files(__package__) / "templates"
    return sorted(Path(p.name).stem for p in folder.iterdir() if p.name.endswith(".txt"))


def render(name: str, **variables: object) -> str:
    """Render template ``name`` with ``variables``; a missing variable raises ``TemplateError``.

    Example:
        >>> "trialrun" in render("system", datasets="churn@v3", max_trials=100)
        True
    """
    text = (resources.files(__package__) / "templates" / f"{name}.txt").read_text(encoding="utf-8")
    try:
        return string.Template(text).substitute(variables)
    except KeyError as exc:
        raise TemplateError(f"template {name!r} needs variable {exc.args[0]!r}") from None


def example_path(name: str) -> Path:
    """Return the path of a bundled example prompt file (``quickstart``, ...)."""
    return Path(str(resources.files(__package__) / "examples" / f"{name}.md"))
