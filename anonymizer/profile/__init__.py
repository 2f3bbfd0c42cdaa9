"""Profiles: YAML -> a frozen, validated Profile; the action registry."""
