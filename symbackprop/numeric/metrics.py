"""Classification accuracy of a network's outputs against one-hot targets (numeric backend).

Accuracy is the share of samples whose largest output is at the position of their target's 1:
the predicted class is argmax_j a^(L)_j, the true class argmax_j y_j.
"""

from __future__ import annotations

import numpy as np

from symbackprop.model.functions import FloatArray


def is_one_hot(Y: FloatArray) -> bool:
    """Tell whether every row of Y (batch, n_outputs >= 2) is a one-hot class label."""
    if Y.ndim != 2 or Y.shape[1] < 2 or Y.shape[0] == 0:
        return False
    return bool(np.all((Y == 0) | (Y == 1)) and np.all(Y.sum(axis=1) == 1))


def accuracy(outputs: FloatArray, Y: FloatArray) -> float:
    """Return the share of rows with argmax(outputs) = argmax(Y), in [0, 1]."""
    return float(np.mean(np.argmax(outputs, axis=1) == np.argmax(Y, axis=1)))
