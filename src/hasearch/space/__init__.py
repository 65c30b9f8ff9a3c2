"""Joint search spaces: parameters with roles, YAML I/O, and the AutoHAS basis."""

from hasearch.space.basis import Basis, BasisSet, basis_of, derive
from hasearch.space.params import Clause, Condition, Kind, ParamSpec, Role
from hasearch.space.search_space import Constraint, SearchSpace
from hasearch.space.yaml_io import (
    dump_space,
    load_space,
    save_space,
    space_from_dict,
    space_to_dict,
)

__all__ = [
    "Basis",
    "BasisSet",
    "Clause",
    "Condition",
    "Constraint",
    "Kind",
    "ParamSpec",
    "Role",
    "SearchSpace",
    "basis_of",
    "derive",
    "dump_space",
    "load_space",
    "save_space",
    "space_from_dict",
    "space_to_dict",
]
