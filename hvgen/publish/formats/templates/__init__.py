"""Files the harness formats ship with an export (see `task_utils`, which `formats` imports and
copies into an lmms-eval task folder); they import nothing of hvgen."""
