"""Reconcile: the plan (what a sync pass writes), its fire-time diff and its renderings. Pure."""
