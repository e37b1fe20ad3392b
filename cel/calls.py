"""Function calls: global and member calls, namespaced functions, regex functions, macros."""

from __future__ import annotations

from collections.abc import Callable

from cel import macros
from cel.activation import Activation
from cel.errors import CompileError, EvaluationError
from cel.extensions import regex_replace
from cel.functions import GLOBAL, MEMBER, UNSUPPORTED, Function
from cel.regex import compile_pattern, runtime_pattern, translate_replacement
from cel.scope import Evaluator, Node, Scope, child, list_children, position
from cel.values import Value, no_overload

_GLOBAL_MACROS: dict[str, Callable[[Node, list[Node], Scope], Evaluator]] = {
    "has": macros.compile_has,
    "default": macros.compile_default,
    "variables": macros.compile_variables,
}
_MEMBER_MACROS: dict[str, Callable[[Node, list[Node], Scope], Evaluator]] = {
    "all": macros.compile_all,
    "exists": macros.compile_exists,
    "exists_one": macros.compile_exists_one,
    "map": macros.compile_map,
    "filter": macros.compile_filter,
    "with": macros.compile_with,
    "mapValues": macros.compile_map_values,
    "filterKeys": macros.compile_filter_keys,
    "removeKeys": macros.compile_remove_keys,
}


def compile_global_call(node: Node, scope: Scope) -> Evaluator:
    name = str(node.children[0])
    arguments = list_children(node, 1)
    macro = _GLOBAL_MACROS.get(name)
    if macro is not None:
        return macro(node, arguments, scope)
    if name == "matches":
        return _compile_matches([scope.compile(argument) for argument in arguments], scope, node)
    return _compile_call(name, GLOBAL.get(name), arguments, [], scope, node)


def compile_member_call(node: Node, scope: Scope) -> Evaluator:
    target = child(node, 0)
    name = str(node.children[1])
    arguments = list_children(node, 2)
    macro = _MEMBER_MACROS.get(name)
    if macro is not None:
        return macro(target, arguments, scope)
    namespace = _namespace(target, scope)
    if namespace is not None:
        qualified = f"{namespace}.{name}"
        return _compile_call(qualified, GLOBAL.get(qualified), arguments, [], scope, node)
    receiver = scope.compile(target)
    if name == "matches":
        compiled = [receiver, *(scope.compile(argument) for argument in arguments)]
        return _compile_matches(compiled, scope, node)
    if name == "regexReplace":
        return _compile_regex_replace(receiver, arguments, scope, node)
    return _compile_call(name, MEMBER.get(name), arguments, [receiver], scope, node)


def _namespace(target: Node, scope: Scope) -> str | None:
    """``base64`` in ``base64.encode(x)``: a bare identifier that is no variable."""
    inner = macros.unwrap(target)
    if inner.data != "ident":
        return None
    name = str(inner.children[0])
    if name in scope.bound or name in scope.variables:
        return None
    return name


def _compile_call(
    name: str,
    function: Function | None,
    arguments: list[Node],
    leading: list[Evaluator],
    scope: Scope,
    node: Node,
) -> Evaluator:
    if function is None:
        reason = UNSUPPORTED.get(name.rpartition(".")[2])
        if reason is not None:
            raise CompileError(f"function {name!r} {reason}", position(node))
        raise CompileError(f"unknown function {name!r}", position(node))
    compiled = [*leading, *(scope.compile(argument) for argument in arguments)]
    if not function.accepts(len(compiled)):
        raise CompileError(
            f"function {name!r} does not take {len(compiled)} argument(s)", position(node)
        )
    implementation = function.implementation
    if function.pure and all(scope.is_constant(argument) for argument in compiled):
        values = [scope.value_of(argument) for argument in compiled]
        if function.checks_constants:
            try:
                return scope.constant(implementation(*values))
            except EvaluationError as error:
                raise CompileError(str(error), position(node)) from None
        return scope.fold(lambda: implementation(*values))
    return _invoke(implementation, compiled)


def _invoke(implementation: Callable[..., Value], arguments: list[Evaluator]) -> Evaluator:
    # Unrolled for the common arities: a list comprehension per call costs more than the call.
    if not arguments:
        return lambda act: implementation()
    if len(arguments) == 1:
        (only,) = arguments
        return lambda act: implementation(only(act))
    if len(arguments) == 2:
        first, second = arguments
        return lambda act: implementation(first(act), second(act))
    return lambda act: implementation(*[argument(act) for argument in arguments])


def _compile_matches(arguments: list[Evaluator], scope: Scope, node: Node) -> Evaluator:
    if len(arguments) != 2:
        raise CompileError("function 'matches' takes a string and a pattern", position(node))
    text, pattern = arguments
    if scope.is_constant(pattern):
        fixed = scope.value_of(pattern)
        if type(fixed) is not str:
            raise CompileError("the pattern of 'matches' must be a string", position(node))
        search = compile_pattern(fixed).search

        def matches_fixed(act: Activation) -> Value:
            subject = text(act)
            if type(subject) is not str:
                raise no_overload("matches", subject, fixed)
            return search(subject) is not None

        return matches_fixed

    def matches(act: Activation) -> Value:
        subject, dynamic = text(act), pattern(act)
        if type(subject) is not str or type(dynamic) is not str:
            raise no_overload("matches", subject, dynamic)
        return runtime_pattern(dynamic).search(subject) is not None

    return matches


def _compile_regex_replace(
    receiver: Evaluator, arguments: list[Node], scope: Scope, node: Node
) -> Evaluator:
    compiled = [scope.compile(argument) for argument in arguments]
    if len(compiled) != 2 or not all(scope.is_constant(argument) for argument in compiled):
        raise CompileError(
            "regexReplace takes a constant pattern and a constant replacement", position(node)
        )
    pattern, replacement = (scope.value_of(argument) for argument in compiled)
    if type(pattern) is not str or type(replacement) is not str:
        raise CompileError("regexReplace pattern and replacement must be strings", position(node))
    regex = compile_pattern(pattern)
    template = translate_replacement(replacement)
    return lambda act: regex_replace(receiver(act), regex, template)
