"""Strict state-dict loading that reports every problem at once as a ``ValueError``."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

_MAX_LISTED = 20


def _fmt(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    more = f" ... (+{len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else ""
    return f"[{shown}{more}]"


def state_dict_problems(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Differences of ``state_dict`` from ``model.state_dict()``: missing, unexpected, mismatched shapes."""
    expected = model.state_dict()
    missing = sorted(k for k in expected if k not in state_dict)
    unexpected = sorted(k for k in state_dict if k not in expected)
    mismatched = []
    for k in sorted(set(expected) & set(state_dict)):
        v = state_dict[k]
        if not isinstance(v, torch.Tensor):
            mismatched.append(f"{k}: not a tensor ({type(v).__name__})")
        elif tuple(v.shape) != tuple(expected[k].shape):
            mismatched.append(f"{k}: file {tuple(v.shape)} vs model {tuple(expected[k].shape)}")
    problems = []
    if missing:
        problems.append(f"missing keys {_fmt(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_fmt(unexpected)}")
    if mismatched:
        problems.append(f"mismatched shapes {_fmt(mismatched)}")
    return problems


def load_state_dict_checked(model: nn.Module, state_dict: Mapping[str, torch.Tensor], what: str) -> None:
    """``model.load_state_dict(state_dict, strict=True)``, raising ``ValueError`` listing all differences.

    ``what`` names the source in the message (a path, "torchvision state_dict", ...).
    """
    problems = state_dict_problems(model, state_dict)
    if problems:
        raise ValueError(f"{what} does not match {type(model).__name__}: " + "; ".join(problems))
    model.load_state_dict(dict(state_dict), strict=True)
