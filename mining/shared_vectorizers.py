"""One TF-IDF transform per text column, shared by every fitted model that holds the same one.

A shipped layer model fits its `linear` and `linear_text` bases and its is_fix model on the same
labelled rows, so their message, path and diff vectorizers are equal (same settings, vocabulary
and idf); the diff-only model holds the same path and diff ones. Each would tokenise and count
the same documents again: nine transforms of a batch where three give the same matrices
(aider: 0.28 s of CPU per 1,000 commits, a sixth of its features and classification). Equal
vectorizers here share one transform that remembers its last input and output, so a batch is
transformed once per column. The matrices are the same objects sklearn would have built.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import numpy as np

#: fingerprint -> the transform every equal vectorizer calls (lives as long as the process)
_SHARED: dict[str, _LastTransform] = {}


class _LastTransform:
    """A vectorizer's `transform`, remembering the last documents it saw and their matrix.

    The documents are compared whole (a tuple of the same string objects compares by identity
    first), so a different batch, even one of the same length, is transformed afresh. The pair
    is kept as one tuple, replaced whole, so threads sharing a model never read one batch's
    documents with another's matrix.
    """

    def __init__(self, vectorizer: Any) -> None:
        self.vectorizer = vectorizer
        self.last: tuple[tuple[Any, ...], Any] | None = None

    def __call__(self, raw_documents: Iterable[Any]) -> Any:
        docs = tuple(raw_documents)
        last = self.last
        if last is not None and last[0] == docs:
            return last[1]
        out = type(self.vectorizer).transform(self.vectorizer, list(docs))
        self.last = (docs, out)
        return out

    def __getstate__(self) -> dict[str, Any]:  # a pickled model does not carry a batch
        return {"vectorizer": self.vectorizer, "last": None}


def _fingerprint(vectorizer: Any) -> str:
    """What makes two fitted TfidfVectorizers transform alike: settings, vocabulary and idf."""
    params = {
        k: (f"{v.__module__}.{v.__qualname__}" if callable(v) else v)
        for k, v in sorted(vectorizer.get_params().items())
    }
    h = hashlib.sha256(repr(params).encode())
    h.update(repr(sorted(vectorizer.vocabulary_.items())).encode())
    h.update(np.ascontiguousarray(vectorizer.idf_).tobytes())
    return h.hexdigest()


def _fitted_vectorizers(estimator: Any) -> Iterable[Any]:
    """The fitted TF-IDF vectorizers inside a pipeline's ColumnTransformer, if any."""
    pre = getattr(estimator, "named_steps", {}).get("pre")  # a Stack or None has no steps
    for _, transformer, _ in getattr(pre, "transformers_", []):
        if hasattr(transformer, "vocabulary_") and hasattr(transformer, "idf_"):
            yield transformer


def share_transforms(estimators: Iterable[Any]) -> None:
    """Make equal fitted vectorizers of `estimators` (and of models shared before) call one
    transform."""
    for est in estimators:
        for vec in _fitted_vectorizers(est):
            key = _fingerprint(vec)
            if key not in _SHARED:
                _SHARED[key] = _LastTransform(vec)
            vec.transform = _SHARED[key]
