"""What can go wrong compiling or evaluating a CEL expression, named by what went wrong."""

from __future__ import annotations


class CompileError(Exception):
    """The expression cannot be compiled: bad syntax, unknown function or variable, bad regex.

    ``position`` is the 1-based (line, column) of the offending token when the parser knows it.
    """

    def __init__(self, message: str, position: tuple[int, int] | None = None) -> None:
        self.position = position
        where = f" at line {position[0]} column {position[1]}" if position else ""
        super().__init__(f"{message}{where}")


class EvaluationError(Exception):
    """Evaluating the expression failed; CEL's error value, raised instead of returned.

    Logical operators, ``default`` and ``has`` absorb it where CEL says they do; everywhere
    else it reaches the caller, which decides (omit the header, deny the request).
    """


class NoSuchKey(EvaluationError):
    """A map or object has no such key or field."""


class NoSuchVariable(NoSuchKey):
    """A variable the expression uses is absent for this request (no JWT, no response yet)."""


class NoSuchOverload(EvaluationError):
    """An operator or function was applied to operand types it is not defined for."""


class ValueOutOfRange(EvaluationError):
    """Integer overflow, division by zero, an index out of bounds or a failed conversion."""


class ExplicitFailure(EvaluationError):
    """The expression called ``fail()``."""
