"""The numbered SQL migrations, shipped in the wheel as `sweepq.migrations`."""
