"""A tiny bring-your-own classifier for the tests: counts each label's keywords."""

import numpy as np


class KeywordCounter:
    """Probability of a label grows with how many of its words the text contains."""

    def __init__(self):
        self.words = {"Urgent intervention": ["now", "today", "immediately"], "Routine question": ["how", "where"]}

    def fit(self, texts, labels):
        self.classes_ = sorted(set(labels) | set(self.words))
        return self

    def predict_proba(self, texts):
        counts = np.array([[1 + sum(w in text.lower() for w in self.words.get(c, [])) for c in self.classes_] for text in texts], float)
        return counts / counts.sum(axis=1, keepdims=True)
