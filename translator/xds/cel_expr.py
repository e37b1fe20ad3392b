"""agentgateway CEL to Envoy's CEL: the parse tree cel-python builds (the one the agw proxy
compiles) rewritten as a ``google.api.expr.v1alpha1.Expr``, the form Envoy's RBAC
``Policy.condition`` evaluates (``cel_print`` prints it for the places that take CEL text).

Only what Envoy's CEL has a like for is converted: literals, lists, maps, the operators, the
ternary, ``has()``, ``size``, ``startsWith``, ``endsWith``, ``contains``, ``matches``, and the
variables whose Envoy attribute means the same thing:

====================  =====================================================================
agw                   Envoy
====================  =====================================================================
request.method/host/  request.method/host/scheme/headers (header names lower-case, repeated
scheme/headers        headers joined with commas on both)
request.path          request.url_path (Envoy's ``request.path`` keeps the query)
request.pathAndQuery  request.path
response.code/       response.code/headers (only where the expression may read ``response``:
headers               access logs and span attributes)
source/destination    source/destination.port (Envoy's ``address`` includes the port: not
.port                 the same value, so ``address`` is not converted)
jwt                   metadata.filter_metadata["envoy.filters.http.jwt_authn"]["jwt_payload"]
                      (jwt_authn writes the payload there: ``payload_in_metadata``)
extauthz              metadata.filter_metadata["envoy.filters.http.ext_authz"] (ext_authz
                      writes an OK answer's dynamic metadata there, whatever the filter's
                      name, and adds ``ext_authz_duration``)
====================  =====================================================================

Anything else (macros, other variables and fields, other functions) raises ``NotExpressible``
saying what; the caller keeps the expression agw-proxy-only and says so in the status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.api.expr.v1alpha1 import syntax_pb2
from lark import Token, Tree

from cel import CompileError
from cel.literals import parse_literal
from cel.program import parse
from cel.values import UInt

# Where Envoy's jwt_authn filter puts a verified token's payload (``payload_in_metadata``).
JWT_METADATA_NAMESPACE = "envoy.filters.http.jwt_authn"
JWT_PAYLOAD_KEY = "jwt_payload"
# Where Envoy's ext_authz filter puts the dynamic metadata of an allowing answer (measured
# with Envoy 1.40: this namespace, not the filter's configured name).
EXT_AUTHZ_METADATA_NAMESPACE = "envoy.filters.http.ext_authz"

_Node = Tree[Token]
_OPERATORS = {
    "conditionalor": "_||_",
    "conditionaland": "_&&_",
    "relation_eq": "_==_",
    "relation_ne": "_!=_",
    "relation_lt": "_<_",
    "relation_le": "_<=_",
    "relation_gt": "_>_",
    "relation_ge": "_>=_",
    "relation_in": "@in",
    "addition_add": "_+_",
    "addition_sub": "_-_",
    "multiplication_mul": "_*_",
    "multiplication_div": "_/_",
    "multiplication_mod": "_%_",
}
_METHODS = frozenset({"startsWith", "endsWith", "contains", "matches", "size"})
# agw variables that are a filter's dynamic metadata in Envoy.
_METADATA_VARIABLES = frozenset({"jwt", "extauthz"})
_FIELDS: dict[str, dict[str, str]] = {
    "request": {
        "method": "method",
        "host": "host",
        "scheme": "scheme",
        "headers": "headers",
        "path": "url_path",
        "pathAndQuery": "path",
    },
    "response": {"code": "code", "headers": "headers"},
    "source": {"port": "port"},
    "destination": {"port": "port"},
}


class NotExpressible(Exception):
    """The expression uses something Envoy's CEL lacks; the message says what."""


def to_envoy_expr(source: str) -> Any:
    """``source`` as an Envoy CEL ``Expr``; raises ``NotExpressible``."""
    try:
        tree = parse(source)
    except CompileError as error:
        raise NotExpressible(str(error)) from None
    return _Converter().convert(tree)


def is_expressible(source: str) -> bool:
    try:
        to_envoy_expr(source)
    except NotExpressible:
        return False
    return True


class _Converter:
    def __init__(self) -> None:
        self._next_id = 0

    def _expr(self, **fields: Any) -> Any:
        self._next_id += 1
        return syntax_pb2.Expr(id=self._next_id, **fields)

    def call(self, function: str, *args: Any, target: Any = None) -> Any:
        call = syntax_pb2.Expr.Call(function=function, args=list(args))
        if target is not None:
            call.target.CopyFrom(target)
        return self._expr(call_expr=call)

    def const(self, value: Any) -> Any:
        return self._expr(const_expr=_constant(value))

    def select(self, operand: Any, field: str, test_only: bool = False) -> Any:
        select = syntax_pb2.Expr.Select(operand=operand, field=field, test_only=test_only)
        return self._expr(select_expr=select)

    def convert(self, node: _Node) -> Any:
        kind = str(node.data)
        if kind in ("member", "primary", "paren_expr") or (
            kind in ("expr", "conditionalor", "conditionaland", "relation", "addition")
            and len(node.children) == 1
        ):
            return self.convert(_child(node, 0))
        if kind in ("multiplication", "unary") and len(node.children) == 1:
            return self.convert(_child(node, 0))
        handler = _HANDLERS.get(kind)
        if handler is None:
            raise NotExpressible(f"{kind.replace('_', ' ')} has no Envoy equivalent")
        return handler(self, node)

    def ternary(self, node: _Node) -> Any:
        return self.call("_?_:_", *(self.convert(_child(node, i)) for i in range(3)))

    def logical(self, node: _Node) -> Any:
        left, right = self.convert(_child(node, 0)), self.convert(_child(node, 1))
        return self.call(_OPERATORS[str(node.data)], left, right)

    def binary(self, node: _Node) -> Any:
        operator_node = _child(node, 0)
        left = self.convert(_child(operator_node, 0))
        right = self.convert(_child(node, 1))
        return self.call(_OPERATORS[str(operator_node.data)], left, right)

    def unary(self, node: _Node) -> Any:
        operand = self.convert(_child(node, 1))
        return self.call("!_" if _child(node, 0).data == "unary_not" else "-_", operand)

    def literal(self, node: _Node) -> Any:
        token = node.children[0]
        assert isinstance(token, Token)
        return self.const(parse_literal(token.type, str(token)))

    def ident(self, node: _Node) -> Any:
        name = str(node.children[0])
        if name == "jwt":
            return self.call(
                "_[_]", self.metadata(JWT_METADATA_NAMESPACE), self.const(JWT_PAYLOAD_KEY)
            )
        if name == "extauthz":
            return self.metadata(EXT_AUTHZ_METADATA_NAMESPACE)
        raise NotExpressible(f"{name} on its own has no Envoy equivalent")

    def metadata(self, namespace: str) -> Any:
        """One filter's dynamic metadata."""
        metadata = self._expr(ident_expr=syntax_pb2.Expr.Ident(name="metadata"))
        filters = self.select(metadata, "filter_metadata")
        return self.call("_[_]", filters, self.const(namespace))

    def member_dot(self, node: _Node, test_only: bool = False) -> Any:
        target, field = _child(node, 0), str(node.children[1])
        variable = _variable(target)
        if variable is not None and variable not in _METADATA_VARIABLES:
            attribute = _FIELDS.get(variable, {}).get(field)
            if attribute is None:
                raise NotExpressible(f"{variable}.{field} has no Envoy attribute")
            operand = self._expr(ident_expr=syntax_pb2.Expr.Ident(name=variable))
            return self.select(operand, attribute, test_only)
        return self.select(self.convert(target), field, test_only)

    def member_index(self, node: _Node) -> Any:
        return self.call("_[_]", self.convert(_child(node, 0)), self.convert(_child(node, 1)))

    def member_call(self, node: _Node) -> Any:
        target, method = _child(node, 0), str(node.children[1])
        if method not in _METHODS:
            raise NotExpressible(f"{method}() has no Envoy equivalent")
        return self.call(method, *self._args(node, 2), target=self.convert(target))

    def global_call(self, node: _Node) -> Any:
        name = str(node.children[0])
        if name == "has":
            (argument,) = _arguments(node, 1)
            inner = _unwrap(argument)
            if inner.data != "member_dot":
                raise NotExpressible("has() needs a field selection")
            return self.member_dot(inner, test_only=True)
        if name != "size":
            raise NotExpressible(f"{name}() has no Envoy equivalent")
        return self.call(name, *self._args(node, 1))

    def list_lit(self, node: _Node) -> Any:
        items = [self.convert(item) for item in _arguments(node, 0)]
        return self._expr(list_expr=syntax_pb2.Expr.CreateList(elements=items))

    def map_lit(self, node: _Node) -> Any:
        parts = _arguments(node, 0)
        entries = [
            syntax_pb2.Expr.CreateStruct.Entry(
                id=index + 1, map_key=self.convert(key), value=self.convert(value)
            )
            for index, (key, value) in enumerate(zip(parts[::2], parts[1::2], strict=True))
        ]
        return self._expr(struct_expr=syntax_pb2.Expr.CreateStruct(entries=entries))

    def _args(self, node: _Node, at: int) -> list[Any]:
        return [self.convert(item) for item in _arguments(node, at)]


def _child(node: _Node, at: int) -> _Node:
    found = node.children[at]
    if not isinstance(found, Tree):
        raise NotExpressible(f"unexpected token {found!r}")
    return found


def _arguments(node: _Node, at: int) -> list[_Node]:
    if len(node.children) <= at:
        return []
    holder = node.children[at]
    if not isinstance(holder, Tree):
        return []
    return [item for item in holder.children if isinstance(item, Tree)]


def _unwrap(node: _Node) -> _Node:
    """The node under single-child wrappers (expr, relation, member, ...)."""
    for _ in range(64):
        if len(node.children) != 1 or not isinstance(node.children[0], Tree):
            return node
        node = node.children[0]
    return node


def _variable(node: _Node) -> str | None:
    """The variable name when ``node`` is a bare identifier."""
    inner = _unwrap(node)
    if inner.data == "primary":
        inner = _child(inner, 0)
    if inner.data == "ident":
        return str(inner.children[0])
    return None


def _constant(value: Any) -> Any:
    if value is None:
        return syntax_pb2.Constant(null_value=0)
    if isinstance(value, bool):
        return syntax_pb2.Constant(bool_value=value)
    if isinstance(value, UInt):
        return syntax_pb2.Constant(uint64_value=int(value))
    if isinstance(value, int):
        return syntax_pb2.Constant(int64_value=value)
    if isinstance(value, float):
        return syntax_pb2.Constant(double_value=value)
    if isinstance(value, str):
        return syntax_pb2.Constant(string_value=value)
    if isinstance(value, bytes):
        return syntax_pb2.Constant(bytes_value=value)
    raise NotExpressible(f"literal {value!r} has no Envoy equivalent")


_HANDLERS: dict[str, Callable[[_Converter, _Node], Any]] = {
    "expr": _Converter.ternary,
    "conditionalor": _Converter.logical,
    "conditionaland": _Converter.logical,
    "relation": _Converter.binary,
    "addition": _Converter.binary,
    "multiplication": _Converter.binary,
    "unary": _Converter.unary,
    "literal": _Converter.literal,
    "ident": _Converter.ident,
    "member_dot": _Converter.member_dot,
    "member_index": _Converter.member_index,
    "member_dot_arg": _Converter.member_call,
    "ident_arg": _Converter.global_call,
    "list_lit": _Converter.list_lit,
    "map_lit": _Converter.map_lit,
}


def descriptor_form(source: str) -> tuple[str, ...] | None:
    """What an Envoy rate limit action can compute of ``source``, or None:
    ("generic", value), ("header", name), ("header_match", name, value), ("remote_address",)."""
    if _is_source_address(source):
        return ("remote_address",)
    try:
        expr = to_envoy_expr(source)
    except NotExpressible:
        return None
    if expr.WhichOneof("expr_kind") == "const_expr":
        constant = expr.const_expr
        return ("generic", constant.string_value) if constant.HasField("string_value") else None
    header = _header_of(expr)
    if header is not None:
        return ("header", header)
    call = expr.call_expr
    if expr.HasField("call_expr") and call.function == "_==_" and len(call.args) == 2:
        header, value = _header_of(call.args[0]), call.args[1]
        if header is not None and value.const_expr.HasField("string_value"):
            return ("header_match", header, value.const_expr.string_value)
    return None


# Envoy request attributes (after conversion) whose value is exactly one pseudo-header's.
_PSEUDO_HEADERS = {"method": ":method", "host": ":authority", "path": ":path"}


def _header_of(expr: Any) -> str | None:
    if expr.HasField("select_expr"):
        select = expr.select_expr
        if select.operand.ident_expr.name == "request" and not select.test_only:
            return _PSEUDO_HEADERS.get(select.field)
        return None
    call = expr.call_expr
    if not expr.HasField("call_expr") or call.function != "_[_]" or len(call.args) != 2:
        return None
    headers, name = call.args
    if (
        headers.select_expr.field == "headers"
        and headers.select_expr.operand.ident_expr.name == "request"
        and name.const_expr.HasField("string_value")
    ):
        return str(name.const_expr.string_value).lower()
    return None


def _is_source_address(source: str) -> bool:
    try:
        node = _unwrap(parse(source))
    except CompileError:
        return False
    return (
        node.data == "member_dot"
        and _variable(_child(node, 0)) == "source"
        and str(node.children[1]) == "address"
    )
