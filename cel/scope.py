"""Compile-time state shared by the expression compiler and the call/macro compiler."""

from __future__ import annotations

from collections.abc import Callable

from lark import Token, Tree

from cel.activation import Activation
from cel.errors import CompileError, EvaluationError
from cel.values import Value

Evaluator = Callable[[Activation], Value]
Node = Tree[Token]


class Scope:
    """Known variables, macro-bound names (each with its own slot) and constant closures."""

    def __init__(self, variables: frozenset[str], compile_node: Callable[[Node, Scope], Evaluator]):
        self.variables = variables
        self.bound: dict[str, int] = {}
        self.slot_count = 0
        self._compile_node = compile_node
        self._constants: dict[int, Value] = {}
        # Keeps constant closures alive so their ids in ``_constants`` are never reused.
        self._kept: list[Evaluator] = []

    def compile(self, node: Node) -> Evaluator:
        return self._compile_node(node, self)

    def constant(self, value: Value) -> Evaluator:
        def run(_: Activation) -> Value:
            return value

        self._constants[id(run)] = value
        self._kept.append(run)
        return run

    def is_constant(self, evaluator: Evaluator) -> bool:
        return id(evaluator) in self._constants

    def value_of(self, evaluator: Evaluator) -> Value:
        return self._constants[id(evaluator)]

    def fold(self, compute: Callable[[], Value]) -> Evaluator:
        """A constant computed now; one that fails stays a runtime error, as CEL evaluates it."""
        try:
            return self.constant(compute())
        except EvaluationError as error:
            failure = error

        def fail(_: Activation) -> Value:
            raise failure

        return fail

    def bind(self, name: str) -> int:
        """A new slot for a macro variable; the caller restores ``bound`` after the body."""
        slot = self.slot_count
        self.slot_count += 1
        self.bound[name] = slot
        return slot


def position(node: Node) -> tuple[int, int] | None:
    meta = node.meta
    return (meta.line, meta.column) if not meta.empty else None


def child(node: Node, at: int) -> Node:
    found = node.children[at]
    if not isinstance(found, Tree):
        raise CompileError(f"unexpected token {found!r}", position(node))
    return found


def list_children(node: Node, at: int) -> list[Node]:
    """The expressions of the optional exprlist/mapinits child at ``at`` (empty when absent)."""
    if len(node.children) <= at:
        return []
    return [item for item in child(node, at).children if isinstance(item, Tree)]
