"""The incomplete request every face is tested with, and a recorder of the outcomes turns end in."""

from __future__ import annotations

from typing import Any

import pytest

INCOMPLETE = "Train xgboost on breast_cancer v1."
MISSING = ["metric", "budget", "seeds"]


def record_outcomes(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record the outcome of every turn any conversation runs from now on (it still runs)."""
    from agent.conversation import Conversation

    outcomes: list[Any] = []
    send = Conversation.send

    def recording(self: Conversation, *args: Any, **kwargs: Any) -> Any:
        turn = send(self, *args, **kwargs)
        outcomes.append(turn.outcome)
        return turn

    monkeypatch.setattr(Conversation, "send", recording)
    return outcomes
