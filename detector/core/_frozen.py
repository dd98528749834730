"""Fast construction of frozen slots dataclasses on the scoring hot path (pure helper, no I/O).

A frozen dataclass's `__init__` sets every field through `object.__setattr__` (~0.1 µs per field). The builder
returned by `fast_builder(cls)` creates the unfrozen twin (same slots, same order) and re-classes it to `cls`;
CPython allows `__class__` assignment between classes with the same slot layout, and from then on the object is
an ordinary, immutable instance of `cls` (equality, repr and FrozenInstanceError as usual). The scores package
uses the same technique for ScoreInputs and ScoreResult.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["fast_builder"]

T = TypeVar("T")


def fast_builder(cls: type[T]) -> Callable[..., T]:
    """A constructor equivalent to `cls(...)` (same parameters, defaults included) for a frozen `slots=True`
    dataclass whose fields all take part in `__init__`."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if any(not f.init or f.default_factory is not dataclasses.MISSING for f in fields):
        raise TypeError(f"{cls.__name__}: fast_builder needs plain init fields without default factories")
    specs = [(f.name, object) if f.default is dataclasses.MISSING
             else (f.name, object, dataclasses.field(default=f.default)) for f in fields]
    twin = dataclasses.make_dataclass(f"_{cls.__name__}Builder", specs, slots=True, eq=False, repr=False)
    if twin.__slots__ != cls.__slots__:  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__}: slot layout differs from its builder")
    # A function with the same explicit parameters as the dataclass (no *args/**kwargs packing on each call).
    params = ", ".join(f.name if f.default is dataclasses.MISSING else f"{f.name}=_d_{f.name}" for f in fields)
    names = ", ".join(f.name for f in fields)
    namespace: dict[str, Any] = {"_twin": twin, "_cls": cls}
    namespace.update({f"_d_{f.name}": f.default for f in fields if f.default is not dataclasses.MISSING})
    exec(f"def build({params}):\n    obj = _twin({names})\n    obj.__class__ = _cls\n    return obj\n",
         namespace)
    build = namespace["build"]
    build.__doc__ = f"`{cls.__name__}(...)` without the frozen-dataclass field setting cost."
    return build  # type: ignore[no-any-return]
