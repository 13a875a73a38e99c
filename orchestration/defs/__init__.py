"""One module per domain; each exposes `defs` (assets, checks, jobs, schedules, sensors)."""
