"""Which classes a case-study figure shows: the paper's classes by name, else a stated rule.

Patil et al. show *throw* and *kick* (Fig. 4, and *throw* in Fig. 5) and the confusable pair
*mopping* / *sweeping* (Fig. 6). On another dataset the figures look for those classes by name
(:func:`find_class`: the exact name, else the same word stems, so the synthetic "mop" and "sweep"
are the paper's "mopping" and "sweeping", else the first class with a word that starts with it,
so NTU's "kicking something" or MSR Action3D's "high throw" count); a class that is not there is replaced
by a documented rule (:func:`case_study_classes`: the most confused class, then the least
confused one, by recall in the confusion matrix), and the returned note says so, for the figure's
title. Nothing is chosen silently.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

__all__ = ["case_study_classes", "confusion_order", "find_class", "named_pair"]


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", str(name).lower()) if w]


def _stem(word: str) -> str:
    """The word without an English verb ending or final e: "mopping" -> "mop", "sweeping" ->
    "sweep", "waves" / "waving" / "wave" -> "wav"; short words and "-ss" words keep theirs."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix) and not word.endswith("ss"):
            word = word[: -len(suffix)]
            if suffix in ("ing", "ed") and word[-1] == word[-2] and word[-1] not in "aeiouls":
                word = word[:-1]     # mopp(ing) -> mop, but sweep, roll, kiss stay
            break
    return word[:-1] if len(word) > 3 and word.endswith("e") else word


def find_class(classes: Sequence[str], name: str) -> int | None:
    """Index of the class called ``name``: the same words (case, spaces, underscores ignored),
    else the same word stems ("mopping" -> "mop", "sweeping" -> "sweep"), else the first class
    one of whose words starts with ``name``'s single word ("kick" -> "kicking something"); None
    when there is none."""
    want = _words(name)
    if not want:
        return None
    for k, c in enumerate(classes):
        if _words(c) == want:
            return k
    stems = [_stem(w) for w in want]
    for k, c in enumerate(classes):
        if [_stem(w) for w in _words(c)] == stems:
            return k
    if len(want) == 1:
        for k, c in enumerate(classes):
            if any(w.startswith(want[0]) for w in _words(c)):
                return k
    return None


def confusion_order(cm: np.ndarray) -> list[int]:
    """Classes from the most to the least confused: ascending recall (diagonal / row sum) in the
    confusion matrix ``cm`` (K, K; rows true class); ties by class order; classes without a
    sequence in ``cm`` last."""
    cm = np.asarray(cm, float)
    rows = cm.sum(1)
    recall = np.where(rows > 0, np.diag(cm) / np.maximum(rows, 1), np.inf)
    return [int(k) for k in np.argsort(recall, kind="stable")]


def case_study_classes(classes: Sequence[str], wanted: Sequence[str], cm: np.ndarray | None = None
                       ) -> tuple[list[int], str]:
    """The classes for the slots ``wanted`` (names, e.g. ("throw", "kick")) and a note for the title.

    A wanted class present in ``classes`` (:func:`find_class`) keeps its slot; each missing one is
    replaced, in order, by the next of: the most confused class, the least confused class, then the
    others from most to least confused (:func:`confusion_order`; class order without ``cm``),
    skipping classes already shown. The note is "" when every wanted class was found.
    """
    found = [find_class(classes, w) for w in wanted]
    order = confusion_order(cm) if cm is not None else list(range(len(classes)))
    if cm is not None:
        seen = [k for k in order if np.asarray(cm)[k].sum() > 0]
        if len(seen) > 1:   # most confused, least confused, the rest; unseen classes last
            order = [seen[0], seen[-1]] + seen[1:-1] + [k for k in order if k not in seen]
    rule = ["the most confused class", "the least confused class"] if cm is not None else []
    chosen, notes, used = [], [], {k for k in found if k is not None}
    for w, k in zip(wanted, found):
        if k is None:
            pick = next((c for c in order if c not in used), None)
            if pick is None:
                continue
            pos = order.index(pick)
            why = rule[pos] if pos < len(rule) else ("by recall in the confusion matrix" if cm is not None
                                                     else "the first class not shown")
            notes.append(f"'{w}' is not in this dataset: {classes[pick]} instead ({why})")
            used.add(pick)
            k = pick
        chosen.append(int(k))
    return chosen, "; ".join(notes)


def named_pair(classes: Sequence[str], wanted: Sequence[str]) -> tuple[int, int] | None:
    """The two classes named in ``wanted`` (e.g. ("mopping", "sweeping")) when both are present."""
    found = [find_class(classes, w) for w in wanted]
    if len(found) == 2 and None not in found and found[0] != found[1]:
        return int(found[0]), int(found[1])
    return None
