"""PyTorch modules as score models: the adapter behind :meth:`fpguide.ScoreModel.from_torch`.

A module ``net(x, t)`` taking a batch of points x, a tensor (B, d), and their times t, a tensor
(B,), is wrapped as the vectorised callable a :class:`~fpguide.ScoreModel` evaluates: the points
go to the module's device and dtype in batches, gradients off (``torch.inference_mode``), and the
output comes back as float64 numpy. PyTorch is an optional dependency (``pip install
fpguide[torch]``); this module imports it only when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["torch_callables"]


def _torch():
    """The torch package, or an ImportError saying how to install it."""
    try:
        import torch
    except ImportError:
        raise ImportError(
            "ScoreModel.from_torch needs PyTorch: pip install 'fpguide[torch]' (a CPU build is "
            "enough)"
        ) from None
    return torch


def _placement(torch, name: str, module, device: str | None, dtype) -> tuple[Any, Any]:
    """The device the module's tensors are on and the dtype of its floating-point ones (integer
    buffers, such as batch norm's counter, keep their own), checked: one device and one floating
    dtype, in evaluation mode, and those asked for."""
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(module).__name__}")
    if module.training:
        raise ValueError(
            f"{name} is in training mode, where dropout and batch norm change its output from "
            f"call to call: call {name}.eval() first"
        )
    tensors = [*module.parameters(), *module.buffers()]
    floating = [tensor for tensor in tensors if tensor.is_floating_point()]
    own_device = tensors[0].device if tensors else torch.device("cpu")
    own_dtype = floating[0].dtype if floating else torch.get_default_dtype()
    for tensor in tensors:
        if tensor.device != own_device:
            raise ValueError(
                f"{name}'s tensors must be on one device, got {own_device} and {tensor.device}"
            )
    for tensor in floating:
        if tensor.dtype != own_dtype:
            raise ValueError(
                f"{name}'s floating-point parameters must share one dtype, got {own_dtype} and "
                f"{tensor.dtype}"
            )
    if device is not None:
        asked = torch.device(device)
        indices = (asked.index, own_device.index)
        if own_device.type != asked.type or (None not in indices and indices[0] != indices[1]):
            raise ValueError(
                f"{name}'s parameters are on {own_device}, not on device={device!r}: move it "
                f"({name}.to({device!r})) or pass device={str(own_device)!r}"
            )
    if dtype is not None and own_dtype != dtype:
        raise ValueError(
            f"{name}'s parameters are {own_dtype}, not dtype={dtype}: convert it "
            f"({name}.to({dtype}))"
        )
    return own_device, own_dtype


def _wrap(
    torch, name: str, module, device, dtype, time: Callable[[float], float], squeeze: bool
) -> Callable[[np.ndarray, float], np.ndarray]:
    """The callable (x, t) ↦ module(x, time(t)) as float64 numpy (``squeeze``: a (B, 1) output
    becomes (B,))."""

    def call(x: np.ndarray, t: float) -> np.ndarray:
        points = torch.as_tensor(x, dtype=dtype, device=device)
        times = torch.full((x.shape[0],), float(time(t)), dtype=dtype, device=device)
        with torch.inference_mode():
            out = module(points, times)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"{name} must return a torch.Tensor, got {type(out).__name__}")
        if squeeze and out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        return out.detach().to(device="cpu", dtype=torch.float64).numpy()

    call.__qualname__ = type(module).__name__
    call.__module__ = type(module).__module__
    return call


def torch_callables(
    module, classifier, time: Callable[[float], float] | None, device: str | None, dtype
) -> tuple[Callable, Callable | None]:
    """The module (and the classifier), checked and wrapped as callables (x, t) of numpy arrays.

    Parameters
    ----------
    module : torch.nn.Module
        ``module(x, t)``: x (B, d) and t (B,) tensors in its dtype on its device.
    classifier : torch.nn.Module or None
        ``classifier(x, t)`` returning a (B,) or (B, 1) tensor, on the module's device and dtype.
    time : callable or None
        Maps fpguide's diffusion time to the modules' time input; None: the identity.
    device : str or None
        The device the module must be on; None: wherever it is.
    dtype : torch.dtype or None
        The dtype the module's parameters must have; None: theirs.

    Returns
    -------
    score : callable
        (x, t) ↦ module(x, time(t)) as float64 numpy.
    classifier : callable or None
        The same for the classifier, its output flattened to (B,).

    Raises
    ------
    ImportError
        If PyTorch is not installed.
    TypeError
        If a module is not a torch.nn.Module or ``time`` is not callable.
    ValueError
        If a module is in training mode, not on ``device`` or not of ``dtype``, or its tensors are
        on several devices or of several floating dtypes.
    """
    torch = _torch()
    time = (lambda t: t) if time is None else time
    if not callable(time):
        raise TypeError(
            f"time must be a callable t -> the module's time, got {type(time).__name__}"
        )
    own_device, own_dtype = _placement(torch, "module", module, device, dtype)
    score = _wrap(torch, "module", module, own_device, own_dtype, time, squeeze=False)
    if classifier is None:
        return score, None
    _placement(torch, "classifier", classifier, str(own_device), own_dtype)
    return score, _wrap(torch, "classifier", classifier, own_device, own_dtype, time, squeeze=True)
