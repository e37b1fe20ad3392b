"""CEL for agw: agentgateway-compatible expressions compiled once into Python closures.

cel-python parses; ``compiler`` turns its tree into closures; ``Activation`` exposes the
request lazily. Shared by the translator (to validate expressions and report them in status)
and the proxy (to evaluate them per request), so it imports neither.
"""

from cel.activation import (
    KNOWN_VARIABLES,
    Activation,
    PeerFacts,
    RequestFacts,
    ResponseFacts,
)
from cel.errors import (
    CompileError,
    EvaluationError,
    ExplicitFailure,
    NoSuchKey,
    NoSuchOverload,
    NoSuchVariable,
    ValueOutOfRange,
)
from cel.program import Program, compile_expression, constant_value
from cel.values import UInt, Value

__all__ = [
    "KNOWN_VARIABLES",
    "Activation",
    "CompileError",
    "EvaluationError",
    "ExplicitFailure",
    "NoSuchKey",
    "NoSuchOverload",
    "NoSuchVariable",
    "PeerFacts",
    "Program",
    "RequestFacts",
    "ResponseFacts",
    "UInt",
    "Value",
    "ValueOutOfRange",
    "compile_expression",
    "constant_value",
]
