"""Stage 1: Gateway API objects to IR and statuses."""

from translator.gatewayapi.translate import GatewayApiResult, translate_gateway_api

__all__ = ["GatewayApiResult", "translate_gateway_api"]
