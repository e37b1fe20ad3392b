"""agentgateway CEL as Envoy CEL text, for the places Envoy takes CEL as text: the access-log
``%CEL(...)%`` formatter and filter, and span custom tags.

The expression is converted by ``cel_expr`` (agw's attribute names mapped to Envoy's, ``jwt``
to the jwt_authn payload in dynamic metadata; anything without an Envoy equivalent raises
``NotExpressible``), then printed back. Every operator application is parenthesised, so the
printed text never depends on precedence rules.
"""

from __future__ import annotations

import json
from typing import Any

from translator.xds.cel_expr import NotExpressible, to_envoy_expr

_INFIX = {
    "_||_": "||",
    "_&&_": "&&",
    "_==_": "==",
    "_!=_": "!=",
    "_<_": "<",
    "_<=_": "<=",
    "_>_": ">",
    "_>=_": ">=",
    "@in": "in",
    "_+_": "+",
    "_-_": "-",
    "_*_": "*",
    "_/_": "/",
    "_%_": "%",
}
_PREFIX = {"!_": "!", "-_": "-"}


def envoy_cel_text(source: str) -> str:
    """``source`` (agentgateway CEL) as Envoy CEL text; raises ``NotExpressible``."""
    return expr_text(to_envoy_expr(source))


def expr_text(expr: Any) -> str:
    """A ``google.api.expr.v1alpha1.Expr`` of the kinds ``cel_expr`` builds, as CEL text."""
    kind = expr.WhichOneof("expr_kind")
    if kind == "const_expr":
        return _constant_text(expr.const_expr)
    if kind == "ident_expr":
        return str(expr.ident_expr.name)
    if kind == "select_expr":
        select = expr.select_expr
        selected = f"{expr_text(select.operand)}.{select.field}"
        return f"has({selected})" if select.test_only else selected
    if kind == "call_expr":
        return _call_text(expr.call_expr)
    if kind == "list_expr":
        return "[" + ", ".join(expr_text(item) for item in expr.list_expr.elements) + "]"
    if kind == "struct_expr" and not expr.struct_expr.message_name:
        entries = (
            f"{expr_text(entry.map_key)}: {expr_text(entry.value)}"
            for entry in expr.struct_expr.entries
        )
        return "{" + ", ".join(entries) + "}"
    raise NotExpressible(f"{kind} cannot be printed as CEL")


def _call_text(call: Any) -> str:
    function, args = call.function, [expr_text(arg) for arg in call.args]
    if function in _INFIX and len(args) == 2:
        return f"({args[0]} {_INFIX[function]} {args[1]})"
    if function in _PREFIX and len(args) == 1:
        return f"{_PREFIX[function]}({args[0]})"
    if function == "_?_:_" and len(args) == 3:
        return f"({args[0]} ? {args[1]} : {args[2]})"
    if function == "_[_]" and len(args) == 2:
        return f"{args[0]}[{args[1]}]"
    listed = ", ".join(args)
    if call.HasField("target"):
        return f"{expr_text(call.target)}.{function}({listed})"
    return f"{function}({listed})"


def _constant_text(constant: Any) -> str:
    kind = constant.WhichOneof("constant_kind")
    if kind == "null_value":
        return "null"
    if kind == "bool_value":
        return "true" if constant.bool_value else "false"
    if kind == "int64_value":
        return str(constant.int64_value)
    if kind == "uint64_value":
        return f"{constant.uint64_value}u"
    if kind == "double_value":
        text = repr(float(constant.double_value))
        if text in ("inf", "-inf", "nan"):
            raise NotExpressible(f"the double {text} has no CEL literal")
        return text
    if kind == "string_value":
        # JSON's escapes (\", \\, \n, \uXXXX) are CEL's too.
        return json.dumps(constant.string_value)
    if kind == "bytes_value":
        return 'b"' + "".join(f"\\x{byte:02x}" for byte in constant.bytes_value) + '"'
    raise NotExpressible(f"{kind} has no CEL literal")
