"""Provider adapters: pure translations between OpenAI shapes and each provider's wire protocol."""

from workers.providers.base import Adapter, ProviderCall, ProviderError, StreamTranslator
from workers.providers.registry import adapter_for

__all__ = ["Adapter", "ProviderCall", "ProviderError", "StreamTranslator", "adapter_for"]
