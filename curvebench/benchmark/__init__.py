"""The evaluator: Lightning module, scoring plan, runner and results."""
