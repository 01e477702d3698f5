from policy_helpers import schema

__all__ = ["schema"]
