"""The public entry point: compile CEL source into a ``Program`` and evaluate it."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field

from lark import Token, Tree
from lark.exceptions import LarkError

from cel.activation import KNOWN_VARIABLES, Activation
from cel.compiler import compile_node
from cel.errors import CompileError
from cel.scope import Evaluator, Scope
from cel.values import Value

_parser_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Program:
    """A compiled expression. Immutable and shareable; evaluate it once per request."""

    source: str
    evaluator: Evaluator = field(repr=False, compare=False)

    def evaluate(self, activation: Activation) -> Value:
        """The expression's value; raises ``EvaluationError`` where CEL yields an error."""
        return self.evaluator(activation)


# Parsing costs milliseconds (cel-python's lark grammar), and the translator and the proxy see
# the same expressions on every configuration change; compiling and converting only read the
# trees, so one tree per expression is shared. Errors are not remembered.
_PARSED_KEPT = 512


@functools.lru_cache(maxsize=_PARSED_KEPT)
def parse(source: str) -> Tree[Token]:
    """cel-python's parse tree; raises ``CompileError`` with the position of a syntax error.
    The tree is shared by every caller parsing the same text: never modify it."""
    # celpy keeps one shared lark parser that records the text being parsed on itself.
    from celpy.celparser import CELParseError, CELParser

    with _parser_lock:
        try:
            tree: Tree[Token] = CELParser().parse(source)
        except CELParseError as error:
            message = str(error.args[0]).strip().splitlines()[0] if error.args else "syntax error"
            line, column = error.line, error.column
            raise CompileError(
                f"syntax error: {message}", (line, column) if line and column else None
            ) from None
        except LarkError as error:
            raise CompileError(f"syntax error: {error}") from None
    return tree


def compile_expression(source: str, variables: frozenset[str] = KNOWN_VARIABLES) -> Program:
    """Compile ``source``; only ``variables`` may be referenced (agentgateway's, by default).

    Raises ``CompileError`` for syntax errors, unknown variables or functions, wrong argument
    counts and invalid regular expressions.
    """
    return _compile(source, variables)[0]


def constant_value(source: str) -> Value | None:
    """The value of ``source`` when it needs no request: no variables and no impure function
    such as ``random()``, folded at compile time. None when it is not constant (or is null).

    Raises ``CompileError`` as ``compile_expression`` does."""
    program, scope = _compile(source, KNOWN_VARIABLES)
    return scope.value_of(program.evaluator) if scope.is_constant(program.evaluator) else None


def _compile(source: str, variables: frozenset[str]) -> tuple[Program, Scope]:
    tree = parse(source)
    scope = Scope(variables, compile_node)
    try:
        evaluator = compile_node(tree, scope)
    except RecursionError:
        raise CompileError("expression is nested too deeply") from None
    return Program(source, evaluator), scope
