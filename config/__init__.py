"""Configuration: `litellm_config.yaml` (LiteLLM's proxy shape plus tiergate's sections) and its loader."""

from config.settings import TIER_NAMES, ConfigError, Deployment, Settings, default_config_path, load_settings

__all__ = ["TIER_NAMES", "ConfigError", "Deployment", "Settings", "default_config_path", "load_settings"]
