"""Persistence tiers: the policy file, lifecycle rules, retention and the janitor."""
