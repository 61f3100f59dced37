"""The one registry shape (model layer): name -> entry, one entry registered below its definition.

Activations, losses, functions and the checker's mistakes are each a :class:`Registry`; a
look-up of an unknown name lists the known ones and suggests the closest.
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from symbackprop.model.errors import unknown_name


class Named(Protocol):
    @property
    def name(self) -> str: ...


EntryT = TypeVar("EntryT", bound=Named)


class Registry(dict[str, EntryT], Generic[EntryT]):
    """A dict of entries by name that refuses a second entry of the same name."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def register(self, entry: EntryT) -> EntryT:
        """Add an entry; every registry-driven test then covers it with no edits."""
        if entry.name in self:
            raise ValueError(
                f"{self.kind} {entry.name!r} is already registered; choose another name"
            )
        self[entry.name] = entry
        return entry

    def lookup(self, name: object, where: str = "") -> EntryT:
        """Return the entry of ``name``; an unknown name lists the known ones."""
        entry = super().get(name) if isinstance(name, str) else None
        if entry is None:
            raise unknown_name(self.kind, str(name), self, where)
        return entry
