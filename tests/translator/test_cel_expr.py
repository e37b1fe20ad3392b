"""agw CEL to Envoy's CEL (``translator.xds.cel_expr``): the variable mapping (request.path to
url_path, pathAndQuery to path, jwt to jwt_authn's metadata), what is refused with a reason
(macros, source.address, unknown fields and functions, the Kubernetes IP and CIDR libraries),
and the rate limit descriptor forms.
Whether Envoy accepts the converted conditions is pinned by the agwpolicy-rbac-envoy golden
case (validated by the real Envoy); whether they behave by e2e/test_agw_policy_rls.py."""

from __future__ import annotations

import pytest

from translator.xds.cel_expr import (
    JWT_METADATA_NAMESPACE,
    NotExpressible,
    descriptor_form,
    to_envoy_expr,
)


def test_request_fields_map_to_envoy_attributes() -> None:
    path = to_envoy_expr("request.path").select_expr
    assert (path.operand.ident_expr.name, path.field) == ("request", "url_path")
    assert to_envoy_expr("request.pathAndQuery").select_expr.field == "path"
    call = to_envoy_expr("request.headers['x'] == 'y' && source.port > 1").call_expr
    assert call.function == "_&&_"
    assert [a.call_expr.function for a in call.args] == ["_==_", "_>_"]


def test_jwt_reads_jwt_authn_metadata() -> None:
    select = to_envoy_expr("has(jwt.sub)").select_expr
    assert select.test_only and select.field == "sub"
    payload = select.operand.call_expr
    namespace = payload.args[0].call_expr
    assert namespace.args[1].const_expr.string_value == JWT_METADATA_NAMESPACE
    assert namespace.args[0].select_expr.field == "filter_metadata"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("source.address == '1.2.3.4'", "source.address"),
        ("request.headers.exists(h, h == 'x')", "exists()"),
        ("request.body == b''", "request.body"),
        ("apiKey.client == 'a'", "apiKey"),
        ("cidr('10.0.0.0/8').containsIP(request.headers['x-real-ip'])", "containsIP()"),
        ("isIP(request.headers['x-real-ip'])", "isIP()"),
        ("ip.isCanonical(request.host)", "isCanonical()"),
        ("request.path ===", "syntax error"),
    ],
)
def test_what_envoy_lacks_is_refused_with_a_reason(source: str, reason: str) -> None:
    with pytest.raises(NotExpressible, match=reason.replace("(", r"\(").replace(")", r"\)")):
        to_envoy_expr(source)


@pytest.mark.parametrize(
    ("source", "form"),
    [
        ("'fixed'", ("generic", "fixed")),
        ("request.headers['X-User']", ("header", "x-user")),
        ("request.method", ("header", ":method")),
        ("request.pathAndQuery", ("header", ":path")),
        ("request.headers['plan'] == 'gold'", ("header_match", "plan", "gold")),
        ("source.address", ("remote_address",)),
        ("request.path", None),
        ("jwt.sub", None),
        ("1 + 2", None),
    ],
)
def test_descriptor_forms(source: str, form: tuple[str, ...] | None) -> None:
    assert descriptor_form(source) == form
