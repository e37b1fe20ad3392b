"""CEL source to a tree of Python closures: parsed once by cel-python, evaluated many times.

Each AST node becomes a closure taking the ``Activation``; operators call the typed helpers in
``values`` and ``arithmetic`` directly, so evaluating an expression costs a handful of Python
calls and no tree walking. Unknown variables, functions and arities are compile errors.
"""

from __future__ import annotations

from collections.abc import Callable

from lark import Token

from cel.activation import Activation
from cel.arithmetic import add, divide, modulo, multiply, negate, subtract
from cel.calls import compile_global_call, compile_member_call
from cel.errors import CompileError, EvaluationError, NoSuchOverload
from cel.literals import parse_literal
from cel.scope import Evaluator, Node, Scope, child, list_children, position
from cel.values import (
    UInt,
    Value,
    compare,
    contains,
    equals,
    index,
    no_overload,
    select,
    truth,
)

_ARITHMETIC: dict[str, Callable[[Value, Value], Value]] = {
    "addition_add": add,
    "addition_sub": subtract,
    "multiplication_mul": multiply,
    "multiplication_div": divide,
    "multiplication_mod": modulo,
}
_ORDERINGS: dict[str, tuple[str, Callable[[int], bool]]] = {
    "relation_lt": ("_<_", lambda order: order < 0),
    "relation_le": ("_<=_", lambda order: order <= 0),
    "relation_gt": ("_>_", lambda order: order > 0),
    "relation_ge": ("_>=_", lambda order: order >= 0),
}


def compile_node(node: Node, scope: Scope) -> Evaluator:
    handler = _HANDLERS.get(str(node.data))
    if handler is None:
        raise CompileError(f"unsupported CEL construct {node.data}", position(node))
    return handler(node, scope)


def _single(node: Node, scope: Scope) -> Evaluator:
    return compile_node(child(node, 0), scope)


def _expr(node: Node, scope: Scope) -> Evaluator:
    if len(node.children) == 1:
        return _single(node, scope)
    condition, then, otherwise = (compile_node(child(node, i), scope) for i in range(3))

    def conditional(act: Activation) -> Value:
        chosen = condition(act)
        if chosen is True:
            return then(act)
        if chosen is False:
            return otherwise(act)
        raise no_overload("_?_:_", chosen)

    return conditional


def _logical(node: Node, scope: Scope) -> Evaluator:
    if len(node.children) == 1:
        return _single(node, scope)
    left, right = compile_node(child(node, 0), scope), compile_node(child(node, 1), scope)
    # ``a || b`` is decided by either side being true, ``a && b`` by either being false; an
    # error (or non-bool) on one side survives only if the other side does not decide.
    decisive = node.data == "conditionalor"
    operator = "_||_" if decisive else "_&&_"

    def logical(act: Activation) -> Value:
        try:
            first = left(act)
        except EvaluationError as error:
            first_error: EvaluationError | None = error
        else:
            if first is decisive:
                return decisive
            first_error = None if type(first) is bool else no_overload(operator, first)
        second = right(act)
        if second is decisive:
            return decisive
        if first_error is not None:
            raise first_error
        if type(second) is not bool:
            raise no_overload(operator, second)
        return second

    return logical


def _relation(node: Node, scope: Scope) -> Evaluator:
    if len(node.children) == 1:
        return _single(node, scope)
    operator_node, right_node = child(node, 0), child(node, 1)
    left = compile_node(child(operator_node, 0), scope)
    right = compile_node(right_node, scope)
    kind = str(operator_node.data)
    if kind == "relation_eq":
        return _equality(left, right, scope, negated=False)
    if kind == "relation_ne":
        return _equality(left, right, scope, negated=True)
    if kind == "relation_in":
        return lambda act: contains(right(act), left(act))
    name, accept = _ORDERINGS[kind]
    return lambda act: accept(compare(name, left(act), right(act)))


def _equality(left: Evaluator, right: Evaluator, scope: Scope, *, negated: bool) -> Evaluator:
    if scope.is_constant(right) and type(scope.value_of(right)) is str:
        # The common ``request.method == "GET"``: skip the generic dispatch for strings.
        expected = scope.value_of(right)

        def equals_string(act: Activation) -> Value:
            actual = left(act)
            same = actual == expected if type(actual) is str else equals(actual, expected)
            return same is not negated

        return equals_string
    if negated:
        return lambda act: not equals(left(act), right(act))
    return lambda act: equals(left(act), right(act))


def _binary(node: Node, scope: Scope) -> Evaluator:
    if len(node.children) == 1:
        return _single(node, scope)
    operator_node, right_node = child(node, 0), child(node, 1)
    left = compile_node(child(operator_node, 0), scope)
    right = compile_node(right_node, scope)
    operation = _ARITHMETIC[str(operator_node.data)]
    if scope.is_constant(left) and scope.is_constant(right):
        return scope.fold(lambda: operation(scope.value_of(left), scope.value_of(right)))
    return lambda act: operation(left(act), right(act))


def _unary(node: Node, scope: Scope) -> Evaluator:
    if len(node.children) == 1:
        return _single(node, scope)
    operand = compile_node(child(node, 1), scope)
    if child(node, 0).data == "unary_not":
        return lambda act: not truth(operand(act), "!_")
    if scope.is_constant(operand):
        return scope.fold(lambda: negate(scope.value_of(operand)))
    return lambda act: negate(operand(act))


def _literal(node: Node, scope: Scope) -> Evaluator:
    token = node.children[0]
    if not isinstance(token, Token):
        raise CompileError("malformed literal", position(node))
    try:
        return scope.constant(parse_literal(token.type, str(token)))
    except CompileError as error:
        raise CompileError(str(error), (token.line or 0, token.column or 0)) from None


def _ident(node: Node, scope: Scope) -> Evaluator:
    name = str(node.children[0])
    slot = scope.bound.get(name)
    if slot is not None:
        return lambda act: act.bindings[slot]
    if name not in scope.variables:
        raise CompileError(f"unknown variable {name!r}", position(node))
    return lambda act: act.lookup(name)


def _member_dot(node: Node, scope: Scope) -> Evaluator:
    target = compile_node(child(node, 0), scope)
    field = str(node.children[1])
    return lambda act: select(target(act), field)


def _member_index(node: Node, scope: Scope) -> Evaluator:
    target = compile_node(child(node, 0), scope)
    key = compile_node(child(node, 1), scope)
    if scope.is_constant(key):
        constant_key = scope.value_of(key)
        return lambda act: index(target(act), constant_key)
    return lambda act: index(target(act), key(act))


def _list(node: Node, scope: Scope) -> Evaluator:
    items = [compile_node(item, scope) for item in list_children(node, 0)]
    if all(scope.is_constant(item) for item in items):
        return scope.constant([scope.value_of(item) for item in items])
    return lambda act: [item(act) for item in items]


def _map(node: Node, scope: Scope) -> Evaluator:
    entries = [compile_node(item, scope) for item in list_children(node, 0)]
    pairs = list(zip(entries[0::2], entries[1::2], strict=True))

    def build(act: Activation) -> Value:
        result: dict[Value, Value] = {}
        for key_of, value_of in pairs:
            key = key_of(act)
            if type(key) not in _MAP_KEYS:
                raise NoSuchOverload(f"invalid map key type: {type(key).__name__}")
            if key in result:
                raise EvaluationError(f"duplicate map key {key!r}")
            result[key] = value_of(act)
        return result

    return build


_MAP_KEYS = frozenset({str, int, bool, UInt})


def _object(node: Node, scope: Scope) -> Evaluator:
    raise CompileError("message construction is not supported", position(node))


_HANDLERS: dict[str, Callable[[Node, Scope], Evaluator]] = {
    "expr": _expr,
    "conditionalor": _logical,
    "conditionaland": _logical,
    "relation": _relation,
    "addition": _binary,
    "multiplication": _binary,
    "unary": _unary,
    "member": _single,
    "primary": _single,
    "paren_expr": _single,
    "member_dot": _member_dot,
    "member_index": _member_index,
    "member_object": _object,
    "literal": _literal,
    "ident": _ident,
    "dot_ident": _ident,
    "list_lit": _list,
    "map_lit": _map,
    "member_dot_arg": compile_member_call,
    "ident_arg": compile_global_call,
    "dot_ident_arg": compile_global_call,
}
