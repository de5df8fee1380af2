"""The code of every model trialrun logs: boosters behind MLflow's pyfunc interface.

MLflow logs this file with each model (models-from-code) and runs it when the model is loaded,
wherever that is: it imports only what the model's requirements list (mlflow, numpy, pandas
and the booster libraries). The encoding module logged beside the boosters is loaded by its file
path under a name derived from its content, so neither the loading process's own modules nor a
model logged by another trialrun version can stand in for it.

``predict(frame)`` returns class labels (classification) or values (regression);
``predict(frame, params={"predict_method": "predict_proba"})`` returns one column of
probabilities per class label.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

SERVING_ARTIFACT = "serving"
SPEC_FILE = "serving.json"
ENCODING_FILE = "encoding.py"
PREDICT_METHODS = ("predict", "predict_proba")


def load_encoding_module(path: Path) -> ModuleType:
    """Import the logged encoding module from ``path``, once per distinct content."""
    code = path.read_bytes()
    name = f"trialrun_encoding_{hashlib.sha256(code).hexdigest()[:16]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


class BoostedTreesModel(PythonModel):
    """One or more boosters (an ensemble averages them by weight) and their encoding."""

    def load_context(self, context: Any) -> None:
        """Load the encoding and every member booster from the model's artifacts."""
        folder = Path(context.artifacts[SERVING_ARTIFACT])
        self._encoding_module = load_encoding_module(folder / ENCODING_FILE)
        spec = json.loads((folder / SPEC_FILE).read_text(encoding="utf-8"))
        self._encoding = self._encoding_module.FrameEncoding.from_dict(spec["encoding"])
        self._members = [
            (
                member["family"],
                self._encoding_module.booster_from_bytes(
                    member["family"], (folder / member["file"]).read_bytes()
                ),
                float(member["weight"]),
            )
            for member in spec["members"]
        ]

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> Any:
        """Return labels or values, or per-label probabilities with ``predict_method``.

        Args:
            context: MLflow's model context (unused after loading).
            model_input: A DataFrame with the catalogued file's columns (the target and extra
                columns are ignored).
            params: ``{"predict_method": "predict_proba"}`` for probabilities.
        """
        method = (params or {}).get("predict_method") or "predict"
        if method not in PREDICT_METHODS:
            raise ValueError(
                f"predict_method {method!r} is not one of {', '.join(PREDICT_METHODS)}."
            )
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        encoding = self._encoding
        pred = self._encoding_module.predict_members(self._members, encoding.encode(frame))
        if encoding.task == "regression":
            if method == "predict_proba":
                raise ValueError(
                    "A regression model has no class probabilities: call predict without params."
                )
            return pd.Series(np.asarray(pred, dtype=np.float64), index=frame.index)
        proba = self._encoding_module.probability_matrix(pred, len(encoding.labels))
        if method == "predict_proba":
            return pd.DataFrame(proba, columns=list(encoding.labels), index=frame.index)
        labels = encoding.labels_of(proba.argmax(axis=1))
        labels.index = frame.index
        return labels


mlflow.models.set_model(BoostedTreesModel())
