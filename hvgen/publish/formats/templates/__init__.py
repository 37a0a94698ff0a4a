"""Files the harness formats ship with an export (see `task_utils`)."""
