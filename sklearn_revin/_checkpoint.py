"""Recognizing the RevIN layer of a trained checkpoint, and what it records.

The layer is recognized by the names and shapes its parameters have in the
projects that use RevIN (see :data:`FAMILIES`). What the checkpoint records
about the layer (its eps, ``subtract_last``) is read from the module's
attributes, Lightning's ``hyper_parameters`` or a safetensors header's
metadata. Files are read by :mod:`sklearn_revin._checkpoint_files` (data, never
code); the numbers themselves are used by
:class:`~sklearn_revin.RevINTransformer` at fit.
"""

from __future__ import annotations

import json
import os
import reprlib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Real

import numpy as np
import torch

from ._checkpoint_files import StoredTensor, read_checkpoint_file

__all__ = [
    "FAMILIES",
    "CheckpointLayer",
    "Family",
    "ObjectWithModel",
    "find_revin_layer",
    "read_state_dict",
]

# How many names of a checkpoint an error message shows.
_NAMES_SHOWN = 8


@dataclass(frozen=True)
class Family:
    """A naming convention of RevIN parameters, with the arithmetic it implies.

    ``shape_of`` gives, for V variates, the shape the parameters are stored
    with; ``inverse_of`` how the source divides on the way back (see
    ``_functional.INVERSES``) for a stored shape; ``layer_word`` a word the
    layer's name must hold (for names as common as ``weight``/``bias``).
    """

    weight: str
    bias: str
    shapes: str
    eps_mode: str
    sources: str
    layer_word: str = ""

    def n_variates(self, shape: tuple[int, ...]) -> int | None:
        """Return V for a parameter shape of this family, or None if it is not one."""
        if self is GAMMA_BETA:
            return shape[0] if len(shape) == 2 and shape[1] == 1 else None
        if self is TSAI:
            return shape[1] if len(shape) == 3 and shape[::2] == (1, 1) else None
        if len(shape) == 1:
            return shape[0]
        if len(shape) == 3 and shape[:2] == (1, 1):
            return shape[2]
        return None

    def source_inverse(self, shape: tuple[int, ...]) -> str:
        """How the source project divides by the weight on the way back."""
        # The original RevIN and its copies divide by affine_weight + eps**2;
        # neuralforecast's RevINMultivariate, (1, 1, V), by affine_weight.
        if self is AFFINE and len(shape) == 1:
            return "eps_squared"
        return "exact"

    def names_layer(self, key: str) -> bool:
        """Whether ``key`` may be a layer of this family."""
        return self.layer_word in key.rpartition(".")[2].lower()


GAMMA_BETA = Family(
    weight="gamma",
    bias="beta",
    shapes="(V, 1)",
    eps_mode="clamp",
    sources="the itransformer package and sklearn_revin.nn.RevIN",
)
AFFINE = Family(
    weight="affine_weight",
    bias="affine_bias",
    shapes="(V,) or (1, 1, V)",
    eps_mode="add",
    sources=(
        "the original RevIN, PatchTST, Time-Series-Library, darts and neuralforecast"
    ),
)
TSAI = Family(
    weight="weight",
    bias="bias",
    shapes="(1, V, 1)",
    eps_mode="add_std",
    sources="tsai's RevIN, in a layer whose name holds 'revin'",
    layer_word="revin",
)
FAMILIES = (GAMMA_BETA, AFFINE, TSAI)
# neuralforecast's TemporalNorm(scaler_type="revin"): recognized to be refused.
_TEMPORAL_NORM = ("revin_weight", "revin_bias")
_TEMPORAL_NORM_WHY = (
    "neuralforecast's TemporalNorm(scaler_type='revin') applies these "
    "parameters differently from RevIN: it adds revin_bias to the shift and "
    "multiplies the scale by relu(revin_weight) + eps, so that they act only on "
    "the way back and the normalized values carry no affine at all. Loading them "
    "as RevIN's gamma and beta would give other numbers than the trained model, "
    "so they are not loaded. If your own model does use them as RevIN's affine "
    "weight and bias, pass them explicitly: RevINTransformer(gamma=..., "
    "beta=..., eps_mode='add')."
)


@dataclass(frozen=True)
class CheckpointLayer:
    """The affine parameters of one RevIN layer found in a checkpoint.

    Attributes
    ----------
    key : str
        The layer's name in the checkpoint, without wrapper prefixes, e.g.
        ``"model.revin_layer"``; ``""`` for a state dict of the layer itself.
    family : Family
        The naming convention its parameters follow.
    gamma, beta : ndarray of shape (V,)
        The parameters, squeezed, in float64.
    stored : dict of str to ndarray
        The two entries with their full names and stored shapes, in float64:
        a state dict of this layer alone, free of torch objects.
    recorded : dict of str to (value, str)
        What the checkpoint records about the layer, with where it says so:
        ``"eps"`` (a float) and ``"center"`` (``"mean"`` or ``"last"``), each
        only where recorded.
    """

    key: str
    family: Family
    gamma: np.ndarray
    beta: np.ndarray
    stored: dict
    recorded: dict = field(default_factory=dict)

    @property
    def eps_mode(self) -> str:
        """How the source project adds eps: "clamp", "add" or "add_std"."""
        return self.family.eps_mode

    @property
    def source_inverse(self) -> str:
        """How the source project divides by gamma on the way back."""
        return self.family.source_inverse(next(iter(self.stored.values())).shape)

    @property
    def n_variates(self) -> int:
        """Number of variates V the layer was trained for."""
        return self.gamma.shape[0]


class _HoldsModel(type):
    def __instancecheck__(cls, instance) -> bool:
        return not isinstance(instance, type) and hasattr(instance, "model")


class ObjectWithModel(metaclass=_HoldsModel):
    """Anything with a ``.model`` attribute, such as a darts forecasting model.

    A type for ``isinstance`` checks only: its ``.model`` should be the trained
    ``torch.nn.Module``.
    """


def read_state_dict(checkpoint) -> dict[str, object]:
    """Return the flat mapping of parameter name to tensor or array of a checkpoint.

    Parameters
    ----------
    checkpoint : str, os.PathLike, Mapping, torch.nn.Module or ObjectWithModel
        A path to a torch file (read with ``weights_only=True``), a
        safetensors file or a ``NeuralForecast.save`` directory, a state dict,
        possibly nested under ``"state_dict"``, ``"model_state_dict"``,
        ``"model"`` or ``"module"``, a module, or an object whose ``.model`` is
        one (a darts forecasting model).

    Returns
    -------
    state_dict : dict
        The tensor and array entries (for safetensors, entries read on demand),
        named without the ``module.`` (DataParallel, DDP) and ``_orig_mod.``
        (torch.compile) prefixes.
    """
    return _open(checkpoint).state_dict


def find_revin_layer(
    checkpoint, key: str | None = None, *, n_variates: int | None = None, hint=""
) -> CheckpointLayer:
    """Find the one RevIN layer of a checkpoint, or the one named ``key``.

    Parameters
    ----------
    checkpoint : str, os.PathLike, Mapping, torch.nn.Module or ObjectWithModel
        See :func:`read_state_dict`.
    key : str, optional
        The layer's name (e.g. ``"model.revin_layer"``), or its end
        (``"revin_layer"``), or the name of one of its parameters. Required
        when the checkpoint holds several RevIN layers.
    n_variates : int, optional
        The number of variates expected, checked on the stored shape before
        anything is read or converted.
    hint : str, default=""
        Appended to the error for another number of variates.

    Returns
    -------
    layer : CheckpointLayer

    Raises
    ------
    ValueError
        If no layer or several layers match, if the layer is incomplete, has
        an unexpected shape, another number of variates or non-finite values,
        or is neuralforecast's TemporalNorm, which is not RevIN's transform.
    """
    opened = _open(checkpoint)
    state_dict = opened.state_dict
    scan = _scan(state_dict)
    if key is None:
        try:
            layer_key, family = _pick_only_layer(state_dict, scan)
        except ValueError as exc:
            no_affine = _records_no_affine(opened)
            if no_affine is None or scan.layers:
                raise
            raise ValueError(
                f"{exc} The checkpoint records a RevIN without affine parameters "
                f"({no_affine}): there is nothing to load; use RevINTransformer() "
                "without a checkpoint, with the model's eps and center."
            ) from None
    else:
        layer_key, family = _pick_named_layer(state_dict, scan, _normalize_key(key))
    recorded = _recorded(opened, layer_key)
    if "non_norm" in recorded:
        raise ValueError(
            f"The checkpoint's RevIN layer {_describe_key(layer_key)} does not "
            f"normalize ({recorded['non_norm'][1]}): the model passes its "
            "windows through unchanged, which RevINTransformer does not "
            "reproduce. Use no RevINTransformer for this model."
        )
    if n_variates is not None:
        _check_n_variates(state_dict, layer_key, family, n_variates, hint)
    return _layer(state_dict, layer_key, family, recorded, opened.source)


# ----------------------------------------------------------- what is opened

# Where real checkpoints keep the weights: PyTorch Lightning ("state_dict"),
# training scripts and fastai ("model", "model_state_dict"), DeepSpeed
# ("module").
_CONTAINERS = ("state_dict", "model_state_dict", "model", "module")
_MAX_NESTING = 4
_WEIGHTS = (torch.Tensor, np.ndarray, StoredTensor)


@dataclass
class _Opened:
    state_dict: dict
    module: torch.nn.Module | None = None  # the model, when one was passed
    hyper_parameters: Mapping | None = None
    hyper_parameters_from: str = ""
    source: str = ""  # "the file '<path>'" for a file, else ""


def _open(checkpoint) -> _Opened:
    opened = _Opened({})
    if isinstance(checkpoint, (str, os.PathLike)):
        read = read_checkpoint_file(checkpoint)
        content = read.content
        opened.source = f" (in {read.path!r})"
        if "hyper_parameters" in read.metadata:
            opened.hyper_parameters = _json_mapping(
                read.metadata["hyper_parameters"], read.path
            )
            opened.hyper_parameters_from = (
                "the hyper_parameters of the safetensors metadata"
            )
        if not isinstance(content, Mapping):
            raise ValueError(
                f"{read.path!r} holds a {type(content).__name__}, not a state dict "
                f"(a mapping of parameter names to tensors).{_darts_hint(read.path)}"
            )
    elif isinstance(checkpoint, (Mapping, torch.nn.Module)):
        content = checkpoint
    elif isinstance(checkpoint, ObjectWithModel):
        content = _model_of(checkpoint)
    else:
        raise ValueError(
            "checkpoint must be a path to a torch or safetensors file, a state "
            "dict, a torch.nn.Module or an object whose .model is one (a darts "
            f"forecasting model); got {type(checkpoint).__name__}."
        )
    for _ in range(_MAX_NESTING):
        if isinstance(content, torch.nn.Module):
            opened.module = opened.module or content
            content = content.state_dict()
        if not isinstance(content, Mapping):
            raise ValueError(
                "The checkpoint holds a "
                f"{type(content).__name__}, not a state dict (a mapping of "
                "parameter names to tensors)."
            )
        hyper_parameters = content.get("hyper_parameters")
        if isinstance(hyper_parameters, Mapping) and opened.hyper_parameters is None:
            opened.hyper_parameters = hyper_parameters
            opened.hyper_parameters_from = "the checkpoint's hyper_parameters"
        container = next(
            (name for name in _CONTAINERS if _holds_weights(content.get(name))),
            None,
        )
        if container is None:
            break
        content = content[container]
    opened.state_dict = {
        _strip_wrappers(name): value
        for name, value in content.items()
        if isinstance(name, str) and isinstance(value, _WEIGHTS)
    }
    return opened


def _model_of(holder) -> torch.nn.Module:
    model = holder.model
    if isinstance(model, torch.nn.Module):
        return model
    name = type(holder).__name__
    raise ValueError(
        f"checkpoint is a {name} whose .model is "
        f"{'None' if model is None else type(model).__name__}, not a trained "
        f"torch.nn.Module: fit the {name} (or load a trained one) first, or "
        "pass its checkpoint file."
    )


def _darts_hint(path: str) -> str:
    """Where darts keeps the weights of the model object pickled at ``path``."""
    beside = path + ".ckpt"
    if os.path.isfile(beside):
        return (
            f" darts' model.save writes the weights beside it, to {beside!r}: "
            "pass that file."
        )
    checkpoints = os.path.join(os.path.dirname(path), "checkpoints")
    if os.path.basename(path) == "_model.pth.tar" and os.path.isdir(checkpoints):
        found = sorted(n for n in os.listdir(checkpoints) if n.endswith(".ckpt"))
        return (
            " darts' save_checkpoints=True keeps the weights in "
            f"{checkpoints!r}: pass one of {found}."
        )
    return ""


def _json_mapping(text, path: str) -> Mapping | None:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    except RecursionError:
        raise ValueError(
            f"Could not read the hyper_parameters of {path!r}: its safetensors "
            "metadata holds JSON nested too deeply for Python to parse."
        ) from None
    return value if isinstance(value, Mapping) else None


def _holds_weights(content, depth: int = _MAX_NESTING) -> bool:
    """Whether ``content`` is a module, or a mapping with tensors at some depth.

    Breadth first, each object once (by identity): mappings that share their
    values (``d = {"a": d, "b": d}``, repeated) cost their size, not the
    number of paths through them.
    """
    level, seen = [content], set()
    for _ in range(depth + 1):
        following = []
        for value in level:
            if isinstance(value, (torch.nn.Module, *_WEIGHTS)):
                return value is not content or isinstance(value, torch.nn.Module)
            if id(value) in seen or not isinstance(value, Mapping):
                continue
            seen.add(id(value))
            following.extend(value.values())
        level = following
    return False


# Hyper-parameters quoted in messages: a few levels and items, whatever their
# size or sharing (a list holding itself twice, 30 times over).
_QUOTE = reprlib.Repr()
_QUOTE.maxlevel, _QUOTE.maxdict, _QUOTE.maxlist = 3, 8, 8
_QUOTE.maxstring, _QUOTE.maxother = 60, 60


def _quote(value) -> str:
    try:
        return _QUOTE.repr(value)
    except RecursionError:
        return "<nested too deeply to show>"


# ------------------------------------------------------------ what is recorded

# Hyper-parameters that record the layer's settings: neuralforecast's
# PatchTST ("revin_subtract_last"), Time-Series-Library style arguments
# ("subtract_last"), darts (use_reversible_instance_norm={"eps": ...}).
_CENTER_HYPER_PARAMETERS = ("revin_subtract_last", "subtract_last")


def _recorded(opened: _Opened, key: str) -> dict:
    recorded = {}
    module = _submodule(opened.module, key)
    if module is not None:
        where = "the module's " + (f"{key}." if key else "")
        eps = getattr(module, "eps", None)
        if isinstance(eps, Real) and not isinstance(eps, bool) and eps > 0:
            recorded["eps"] = (float(eps), f"{where}eps")
        if getattr(module, "non_norm", None) is True:  # neuralforecast, TSLib
            recorded["non_norm"] = (True, f"{where}non_norm=True")
        subtract_last = getattr(module, "subtract_last", None)
        if isinstance(subtract_last, bool):
            recorded["center"] = (
                "last" if subtract_last else "mean",
                f"{where}subtract_last={subtract_last}",
            )
    hyper_parameters = opened.hyper_parameters
    if not isinstance(hyper_parameters, Mapping):
        return recorded
    where = opened.hyper_parameters_from
    for name in _CENTER_HYPER_PARAMETERS:
        value = hyper_parameters.get(name)
        if isinstance(value, bool):
            recorded.setdefault(
                "center", ("last" if value else "mean", f"{where}: {name}={value}")
            )
            break
    if hyper_parameters.get("use_norm", True) in (False, 0):  # TimeMixer
        recorded.setdefault("non_norm", (True, f"{where}: use_norm=False"))
    darts = hyper_parameters.get("use_reversible_instance_norm")
    if isinstance(darts, Mapping):
        eps = darts.get("eps")
        if isinstance(eps, Real) and not isinstance(eps, bool) and eps > 0:
            recorded.setdefault(
                "eps",
                (float(eps), f"{where}: use_reversible_instance_norm={_quote(darts)}"),
            )
    return recorded


def _records_no_affine(opened: _Opened) -> str | None:
    """Where the hyper-parameters say the RevIN has no affine, or None."""
    hyper_parameters = opened.hyper_parameters
    if not isinstance(hyper_parameters, Mapping):
        return None
    where = opened.hyper_parameters_from
    if hyper_parameters.get("revin_affine") is False:  # neuralforecast PatchTST
        return f"{where}: revin_affine=False"
    darts = hyper_parameters.get("use_reversible_instance_norm")
    if isinstance(darts, Mapping) and darts.get("affine") is False:
        return f"{where}: use_reversible_instance_norm={_quote(darts)}"
    return None


def _submodule(module, key):
    """Return the layer ``key`` of ``module`` (named without wrapper prefixes)."""
    if module is None:
        return None
    for name, candidate in module.named_modules():
        if _strip_wrappers(name) == key:
            return candidate
    return None


# ------------------------------------------------------------------- the search


@dataclass
class _Scan:
    layers: list  # (key, family)
    misshapen: list  # (key, family, weight shape, bias shape)
    incomplete: list  # (name present, name missing)
    temporal_norm: list  # keys of revin_weight/revin_bias pairs or halves


def _scan(state_dict) -> _Scan:
    scan = _Scan([], [], [], [])
    for family in FAMILIES:
        for weight_name, bias_name, key in _pairs(
            state_dict, family.weight, family.bias
        ):
            if not family.names_layer(key):
                continue  # tsai's weight/bias: only in a layer named for RevIN
            if weight_name is None or bias_name is None:
                present = weight_name or bias_name
                missing = _join(key, family.bias if weight_name else family.weight)
                scan.incomplete.append((present, missing))
                continue
            weight_shape = tuple(state_dict[weight_name].shape)
            bias_shape = tuple(state_dict[bias_name].shape)
            n_variates = family.n_variates(weight_shape)
            if n_variates is None or bias_shape != weight_shape:
                scan.misshapen.append((key, family, weight_shape, bias_shape))
            else:
                scan.layers.append((key, family))
    scan.temporal_norm = sorted(
        {key for *_, key in _pairs(state_dict, *_TEMPORAL_NORM)}
    )
    return scan


def _pairs(state_dict, weight, bias):
    """Yield (weight name or None, bias name or None, layer key) for one family."""
    keys = {}
    for name in state_dict:
        for suffix in (weight, bias):
            if name == suffix or name.endswith("." + suffix):
                keys.setdefault(name[: -len(suffix)].rstrip("."), None)
    for key in keys:
        weight_name, bias_name = _join(key, weight), _join(key, bias)
        yield (
            weight_name if weight_name in state_dict else None,
            bias_name if bias_name in state_dict else None,
            key,
        )


def _pick_only_layer(state_dict, scan) -> tuple[str, Family]:
    if len(scan.layers) == 1:
        layer_key, family = scan.layers[0]
        if scan.temporal_norm:
            warnings.warn(
                f"The checkpoint also holds neuralforecast TemporalNorm "
                f"parameters at {scan.temporal_norm}, which are not loaded: "
                f"{_TEMPORAL_NORM_WHY}",
                UserWarning,
                stacklevel=4,
            )
        return layer_key, family
    if scan.layers:
        raise ValueError(
            f"The checkpoint holds {len(scan.layers)} RevIN layers: "
            f"{_list_layers(state_dict, scan.layers)}. Choose one with "
            "checkpoint_key, e.g. checkpoint_key="
            f"{scan.layers[0][0]!r}."
        )
    if scan.temporal_norm:
        raise ValueError(
            "The checkpoint holds no RevIN layer, only neuralforecast "
            f"TemporalNorm parameters at {_describe_key(scan.temporal_norm[0])}. "
            + _TEMPORAL_NORM_WHY
        )
    raise ValueError(
        "Found no RevIN layer in the checkpoint. "
        + _looked_for()
        + _near_misses(scan)
        + f" The checkpoint holds {_held(state_dict)}."
    )


def _pick_named_layer(state_dict, scan, key) -> tuple[str, Family]:
    matches = [(k, family) for k, family in scan.layers if _key_matches(k, key)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ValueError(
            f"checkpoint_key={key!r} matches {len(matches)} RevIN layers: "
            f"{_list_layers(state_dict, matches)}. Give the full name of one."
        )
    if any(_key_matches(k, key) for k in scan.temporal_norm):
        raise ValueError(
            f"checkpoint_key={key!r} points at neuralforecast TemporalNorm "
            "parameters, which are not loaded. " + _TEMPORAL_NORM_WHY
        )
    for present, missing in scan.incomplete:
        if _key_matches(present.rpartition(".")[0], key):
            raise ValueError(
                f"checkpoint_key={key!r}: the checkpoint holds {present!r} of "
                f"shape {tuple(state_dict[present].shape)} but no {missing!r}; a "
                "RevIN layer needs both its weight and its bias."
            )
    for layer_key, family, weight_shape, bias_shape in scan.misshapen:
        if _key_matches(layer_key, key):
            raise ValueError(
                f"checkpoint_key={key!r}: {_join(layer_key, family.weight)!r} has "
                f"shape {weight_shape} and {_join(layer_key, family.bias)!r} has "
                f"shape {bias_shape}, but {family.sources} store them with "
                f"the same shape {family.shapes}, V the number of variates."
            )
    under_key = [
        name
        for name in state_dict
        if _key_matches(name, key) or name.startswith(f"{key}.") or f".{key}." in name
    ]
    if under_key:
        held = ", ".join(
            f"{name!r} {tuple(state_dict[name].shape)}"
            for name in under_key[:_NAMES_SHOWN]
        )
        raise ValueError(
            f"checkpoint_key={key!r} does not point at a RevIN layer: it holds "
            f"{held}. " + _looked_for(key)
        )
    found = (
        f"The RevIN layers in it are {_list_layers(state_dict, scan.layers)}."
        if scan.layers
        else "It holds no RevIN layer. " + _looked_for()
    )
    raise ValueError(
        f"checkpoint_key={key!r} names nothing in the checkpoint. {found} It "
        f"holds {_held(state_dict)}."
    )


def _check_n_variates(state_dict, key, family, n_variates, hint) -> None:
    weight_name = _join(key, family.weight)
    shape = tuple(state_dict[weight_name].shape)
    found = family.n_variates(shape)
    if found == n_variates:
        return
    raise ValueError(
        f"The checkpoint's RevIN layer {_describe_key(key)} holds "
        f"{weight_name!r} of shape {shape}, that is {found} variate(s), but X "
        f"has {n_variates} variate(s); expected shape "
        f"{_expected_shape(family, n_variates)}.{hint.format(found=found)}"
    )


def _layer(state_dict, key, family, recorded, source="") -> CheckpointLayer:
    stored = {}
    for name in (_join(key, family.weight), _join(key, family.bias)):
        values = _to_float64(state_dict[name], name, source)
        if not np.isfinite(values).all():
            bad = int(np.size(values) - np.isfinite(values).sum())
            raise ValueError(
                f"The checkpoint's {name!r}{source} (shape {values.shape}) holds {bad} "
                "non-finite value(s) (NaN or infinity): the model's training "
                "diverged or the file is damaged."
            )
        stored[name] = values
    gamma, beta = (values.reshape(-1) for values in stored.values())
    return CheckpointLayer(
        key=key,
        family=family,
        gamma=gamma,
        beta=beta,
        stored=stored,
        recorded=recorded,
    )


def _to_float64(value, name, source="") -> np.ndarray:
    """Return an owned float64 copy: never a view of a mapped file.

    Tensors of a file are mapped from it (``mmap=True``); a float64 tensor
    converts without a copy, and the fitted estimator would then change
    with the file (or crash when it is truncated).
    """
    if isinstance(value, StoredTensor):
        value = value.load()
    if isinstance(value, torch.Tensor):
        _check_tensor(value, name, source)
        converted = value.detach().to(device="cpu", dtype=torch.float64).numpy()
        return np.array(converted, copy=True)
    try:
        return np.array(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"The checkpoint's {name!r}{source} is not numeric (dtype "
            f"{getattr(value, 'dtype', type(value).__name__)})."
        ) from exc


def _check_tensor(value: torch.Tensor, name: str, source: str) -> None:
    """Refuse what cannot be RevIN's affine, before anything is converted."""
    what = f"The checkpoint's {name!r}{source}"
    if value.layout != torch.strided:
        raise ValueError(
            f"{what} is a {value.layout} tensor; RevIN's affine weight and "
            "bias are dense (torch.strided) tensors."
        )
    if value.is_quantized:
        raise ValueError(
            f"{what} is a quantized tensor ({value.dtype}); RevIN's affine "
            "weight and bias are floating-point tensors."
        )
    if value.is_meta or value.device.type == "meta":
        raise ValueError(
            f"{what} is a meta tensor: it has a shape but no values (saved "
            "from a model built on the meta device)."
        )
    if value.is_complex() or value.dtype == torch.bool:
        raise ValueError(f"{what} has dtype {value.dtype}.")
    held = value.untyped_storage().nbytes()
    needed = value.numel() * value.element_size()
    if needed > held:
        raise ValueError(
            f"{what} has shape {tuple(value.shape)}, {value.numel()} values, "
            f"but its storage holds {held} bytes: an expanded (stride "
            f"{tuple(value.stride())}) or overlapping view, refused before "
            "conversion (it would allocate all its values)."
        )


# ---------------------------------------------------------------------- names


def _strip_wrappers(name: str) -> str:
    while name.startswith("module."):
        name = name[len("module.") :]
    return name.replace("_orig_mod.", "")


def _normalize_key(key: str) -> str:
    key = _strip_wrappers(key).strip(".")
    for family in (*FAMILIES, Family(*_TEMPORAL_NORM, "", "", "")):
        for suffix in (family.weight, family.bias):
            if key == suffix:
                return ""
            if key.endswith("." + suffix):
                return key[: -len(suffix) - 1]
    return key


def _key_matches(name: str, key: str) -> bool:
    return name == key or (key != "" and name.endswith("." + key))


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _describe_key(key: str) -> str:
    return repr(key) if key else "at the top level ('')"


def _expected_shape(family: Family, n_variates: int) -> str:
    if family is GAMMA_BETA:
        return f"({n_variates}, 1)"
    if family is TSAI:
        return f"(1, {n_variates}, 1)"
    return f"({n_variates},) or (1, 1, {n_variates})"


def _list_layers(state_dict, layers) -> str:
    return "; ".join(
        f"{key!r} ({_join(key, family.weight)} of shape "
        f"{tuple(state_dict[_join(key, family.weight)].shape)})"
        for key, family in layers
    )


def _looked_for(key: str | None = None) -> str:
    prefix = f"{key}." if key else "<layer>."
    return (
        "Looked for "
        + " or ".join(
            f"{prefix}{family.weight} and {prefix}{family.bias} of shape "
            f"{family.shapes} ({family.sources})"
            for family in FAMILIES
        )
        + "."
    )


def _near_misses(scan) -> str:
    notes = [
        f" {_join(key, family.weight)!r} has shape {weight_shape} and "
        f"{_join(key, family.bias)!r} shape {bias_shape}, not {family.shapes}."
        for key, family, weight_shape, bias_shape in scan.misshapen
    ]
    notes += [
        f" {present!r} has no partner {missing!r}."
        for present, missing in scan.incomplete
    ]
    return "".join(notes[:_NAMES_SHOWN])


def _held(state_dict) -> str:
    names = list(state_dict)
    if not names:
        return "no tensors"
    shown = ", ".join(repr(name) for name in names[:_NAMES_SHOWN])
    more = ", ..." if len(names) > _NAMES_SHOWN else ""
    count = "1 tensor" if len(names) == 1 else f"{len(names)} tensors"
    return f"{count}: {shown}{more}"
