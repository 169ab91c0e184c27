"""Offloading policies for simoffload.

Each module holds one family; all subclass :class:`simoffload.policy.Policy`
and are found by the names in :mod:`simoffload.registry`.
"""
