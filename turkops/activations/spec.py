"""What to extract, as the user writes it (plain Python: no torch).

- model: "torchvision:NAME", "timm:NAME" or "open_clip:NAME";
- neurons: "0:512" (a slice), "3,17,42" (a list), "7" (one), or None for all channels;
- the one-option form of `study create --activations-from-model`:
  "torchvision:resnet50,weights=r50.pth,layer=layer4[,pool=mean][,token=cls][,neurons=0:512]"
  (open_clip also [,preprocess_like=TAG]).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from turkops.domain import InputError

FAMILIES = ("torchvision", "timm", "open_clip")


class Pool(StrEnum):
    MEAN = "mean"
    MAX = "max"


class Token(StrEnum):
    CLS = "cls"
    MEAN = "mean"


@dataclass(frozen=True, slots=True)
class ModelRef:
    family: str  # one of FAMILIES
    name: str

    def __str__(self) -> str:
        return f"{self.family}:{self.name}"


@dataclass(frozen=True, slots=True)
class ExtractionSpec:
    model: ModelRef
    weights: Path
    layer: str
    pool: Pool = Pool.MEAN
    token: Token | None = None  # None: cls if the model has a class token, else mean
    neurons: str | None = None
    preprocess_like: str | None = None  # open_clip: the tag whose preprocessing the file uses


def parse_model(text: str) -> ModelRef:
    family, sep, name = text.strip().partition(":")
    if not sep or family not in FAMILIES or not name:
        raise InputError(f"model {text!r}: expected FAMILY:NAME with FAMILY one of "
                         f"{', '.join(FAMILIES)} (e.g. torchvision:resnet50)")
    return ModelRef(family, name)


def select_neurons(text: str | None, n_channels: int) -> list[int] | None:
    """Column indices chosen by `text` among n_channels (None: all, in order)."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 2:
                raise ValueError
            start = int(parts[0]) if parts[0].strip() else 0
            stop = int(parts[1]) if parts[1].strip() else n_channels
            if not 0 <= start < stop <= n_channels:
                raise InputError(f"--neurons {text}: the layer has {n_channels} channels "
                                 f"(0:{n_channels}); need 0 <= start < stop <= {n_channels}")
            return list(range(start, stop))
        picked = [int(p) for p in text.split(",")]
    except ValueError:
        raise InputError(f"--neurons {text!r}: expected START:STOP, a comma list or one "
                         "channel index") from None
    bad = [i for i in picked if not 0 <= i < n_channels]
    if bad:
        raise InputError(f"--neurons: channel {bad[0]} is out of range (the layer has "
                         f"{n_channels} channels)")
    if len(set(picked)) != len(picked):
        raise InputError(f"--neurons {text!r} lists a channel twice")
    return picked


def parse_extraction(text: str) -> ExtractionSpec:
    """The comma form "MODEL,weights=PATH,layer=NAME[,pool=..][,token=..][,neurons=..]"."""
    head, *rest = [p.strip() for p in text.split(",")]
    model = parse_model(head)
    opts: dict[str, str] = {}
    for part in rest:
        key, sep, value = part.partition("=")
        if not sep:
            # A comma inside neurons=3,5,9 continues the previous value.
            if "neurons" in opts and part.isdigit():
                opts["neurons"] += f",{part}"
                continue
            raise InputError(f"--activations-from-model: {part!r} is not KEY=VALUE")
        if key not in ("weights", "layer", "pool", "token", "neurons", "preprocess_like"):
            raise InputError(f"--activations-from-model: unknown key {key!r} (use weights, "
                             "layer, pool, token, neurons, preprocess_like)")
        opts[key] = value
    missing = [k for k in ("weights", "layer") if not opts.get(k)]
    if missing:
        raise InputError(f"--activations-from-model needs {' and '.join(missing)}=..., e.g. "
                         "torchvision:resnet50,weights=resnet50.pth,layer=layer4")
    try:
        pool = Pool(opts.get("pool", "mean"))
        token = Token(opts["token"]) if "token" in opts else None
    except ValueError as exc:
        raise InputError(f"--activations-from-model: {exc}") from None
    return ExtractionSpec(model, Path(opts["weights"]).expanduser(), opts["layer"], pool, token,
                          opts.get("neurons"), opts.get("preprocess_like"))
