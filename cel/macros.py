"""Macros: calls whose arguments are expressions evaluated under the macro's control.

``has``, ``default`` and ``variables`` are global; the comprehensions (``all``, ``exists``,
``exists_one``, ``map``, ``filter``) and agentgateway's ``with``, ``mapValues``, ``filterKeys``
and ``removeKeys`` are member macros whose first argument names an iteration variable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lark import Tree

from cel.activation import Activation
from cel.errors import CompileError, EvaluationError, NoSuchKey
from cel.scope import Evaluator, Node, Scope, child, position
from cel.values import Value, has_field, no_overload, truth

# Grammar levels that wrap a lone child: ``x`` parses as expr > ... > member > primary > ident.
_WRAPPERS = frozenset(
    {
        "expr",
        "conditionalor",
        "conditionaland",
        "relation",
        "addition",
        "multiplication",
        "unary",
        "member",
        "primary",
    }
)


def unwrap(node: Node) -> Node:
    for _ in range(len(_WRAPPERS) + 1):
        if node.data not in _WRAPPERS or len(node.children) != 1:
            return node
        only = node.children[0]
        if not isinstance(only, Tree):
            return node
        node = only
    return node


def compile_has(node: Node, arguments: list[Node], scope: Scope) -> Evaluator:
    if len(arguments) != 1:
        raise CompileError("has() takes one field selection", position(node))
    inner = unwrap(arguments[0])
    if inner.data == "ident" and str(inner.children[0]) in scope.variables:
        # agentgateway extension: has(jwt) asks whether the variable exists for this request.
        name = str(inner.children[0])
        return lambda act: act.is_present(name)
    if inner.data != "member_dot":
        raise CompileError("has() needs a field selection such as has(jwt.sub)", position(node))
    target = scope.compile(child(inner, 0))
    field = str(inner.children[1])

    def has(act: Activation) -> Value:
        try:
            value = target(act)
        except NoSuchKey:
            # Like agentgateway: has(jwt.sub) is false when there is no JWT at all.
            return False
        return has_field(value, field)

    return has


def compile_default(node: Node, arguments: list[Node], scope: Scope) -> Evaluator:
    if len(arguments) != 2:
        raise CompileError("default() takes an expression and a fallback", position(node))
    primary, fallback = (scope.compile(argument) for argument in arguments)

    def default(act: Activation) -> Value:
        try:
            value = primary(act)
        except EvaluationError:
            return fallback(act)
        return fallback(act) if value is None else value

    return default


def compile_variables(node: Node, arguments: list[Node], scope: Scope) -> Evaluator:
    if arguments:
        raise CompileError("variables() takes no arguments", position(node))
    return lambda act: act.present_variables()


def _bind_body(name_node: Node, bodies: list[Node], scope: Scope) -> tuple[int, list[Evaluator]]:
    """Compile ``bodies`` with the identifier ``name_node`` bound to a fresh slot."""
    inner = unwrap(name_node)
    if inner.data != "ident":
        raise CompileError("a macro's first argument must be a variable name", position(name_node))
    name = str(inner.children[0])
    previous = scope.bound.get(name)
    slot = scope.bind(name)
    try:
        return slot, [scope.compile(body) for body in bodies]
    finally:
        if previous is None:
            del scope.bound[name]
        else:
            scope.bound[name] = previous


def _comprehension(
    target: Node, arguments: list[Node], scope: Scope, name: str, counts: tuple[int, ...]
) -> tuple[Evaluator, int, list[Evaluator]]:
    if len(arguments) not in counts:
        raise CompileError(f"{name}() takes {' or '.join(map(str, counts))} arguments")
    slot, bodies = _bind_body(arguments[0], arguments[1:], scope)
    return scope.compile(target), slot, bodies


def _items(collection: Value, name: str) -> Iterable[Value]:
    if type(collection) is list or type(collection) is tuple or isinstance(collection, Mapping):
        return list(collection)
    raise no_overload(name, collection)


def compile_all(target: Node, arguments: list[Node], scope: Scope) -> Evaluator:
    return _quantifier(target, arguments, scope, "all", decisive=False)


def compile_exists(target: Node, arguments: list[Node], scope: Scope) -> Evaluator:
    return _quantifier(target, arguments, scope, "exists", decisive=True)


def _quantifier(
    target: Node, arguments: list[Node], scope: Scope, name: str, *, decisive: bool
) -> Evaluator:
    collection, slot, (predicate,) = _comprehension(target, arguments, scope, name, (2,))

    def quantify(act: Activation) -> Value:
        # One decisive result wins over errors on other elements, as with && and ||.
        bindings = act.bindings
        error: EvaluationError | None = None
        for item in _items(collection(act), name):
            bindings[slot] = item
            try:
                outcome = truth(predicate(act), name)
            except EvaluationError as failure:
                error = failure
                continue
            if outcome is decisive:
                return decisive
        if error is not None:
            raise error
        return not decisive

    return quantify


def compile_exists_one(target: Node, arguments: list[Node], scope: Scope) -> Evaluator:
    collection, slot, (predicate,) = _comprehension(target, arguments, scope, "exists_one", (2,))

    def exists_one(act: Activation) -> Value:
        bindings = act.bindings
        found = 0
        for item in _items(collection(act), "exists_one"):
            bindings[slot] = item
            found += truth(predicate(act), "exists_one")
        return found == 1

    return exists_one


def compile_map(target: Node, arguments: list[Node], scope: Scope) -> Evaluator:
    collection, slot, bodies = _comprehension(target, arguments, scope, "map", (2, 3))
    transform = bodies[-1]
    keep: Evaluator | None = bodies[0] if len(bodies) == 2 else None

    def mapped(act: Activation) -> Value:
        bindings = act.bindings
        result = []
        for item in _items(collection(act), "map"):
            bindings[slot] = item
            if keep is None or truth(keep(act), "map"):
                result.append(transform(act))
        return result

    return mapped


def compile_filter(target: Node, arguments: list[Node], scope: Scope) -> Evaluator:
    collection, slot, (predicate,) = _comprehension(target, arguments, scope, "filter", (2,))

    def filtered(act: Activation) -> Value:
        bindings = act.bindings
        result = []
        for item in _items(collection(act), "filter"):
            bindings[slot] = item
            if truth(predicate(act), "filter"):
                result.append(item)
        return result

    return filtered


def compile_with(target: Node, arguments: list[Node], scope: Scope) -> Evaluator:
    value, slot, (body,) = _comprehension(target, arguments, scope, "with", (2,))

    def bound(act: Activation) -> Value:
        act.bindings[slot] = value(act)
        return body(act)

    return bound


def compile_map_values(target: Node, arguments: list[Node], scope: Scope) -> Evaluator:
    collection, slot, (transform,) = _comprehension(target, arguments, scope, "mapValues", (2,))

    def map_values(act: Activation) -> Value:
        mapping = _mapping(collection(act), "mapValues")
        bindings = act.bindings
        result = {}
        for key, item in mapping.items():
            bindings[slot] = item
            result[key] = transform(act)
        return result

    return map_values


def compile_filter_keys(target: Node, arguments: list[Node], scope: Scope) -> Evaluator:
    return _key_filter(target, arguments, scope, "filterKeys", keep_matching=True)


def compile_remove_keys(target: Node, arguments: list[Node], scope: Scope) -> Evaluator:
    return _key_filter(target, arguments, scope, "removeKeys", keep_matching=False)


def _key_filter(
    target: Node, arguments: list[Node], scope: Scope, name: str, *, keep_matching: bool
) -> Evaluator:
    collection, slot, (predicate,) = _comprehension(target, arguments, scope, name, (2,))

    def key_filter(act: Activation) -> Value:
        mapping = _mapping(collection(act), name)
        bindings = act.bindings
        result = {}
        for key, item in mapping.items():
            bindings[slot] = key
            if truth(predicate(act), name) is keep_matching:
                result[key] = item
        return result

    return key_filter


def _mapping(value: Value, name: str) -> Mapping[Value, Value]:
    if isinstance(value, Mapping):
        return value
    raise no_overload(name, value)
