"""A Ctrl-C that Python swallows (raised inside a weakref callback or `__del__`) still stops the
run at the next progress step or stage (hvgen.interrupts)."""

from __future__ import annotations

import contextlib
import signal

import pytest

from hvgen import interrupts
from hvgen.progress import progress_bar
from hvgen.summary import StageTimes


def _swallowed_ctrl_c() -> None:
    """SIGINT whose KeyboardInterrupt is lost, as when it lands in a garbage-collection callback."""
    with contextlib.suppress(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)


def test_a_swallowed_ctrl_c_is_raised_again_at_the_next_progress_step() -> None:
    with interrupts.stop_on_ctrl_c(), progress_bar("work", 3) as advance:
        advance()
        _swallowed_ctrl_c()
        with pytest.raises(KeyboardInterrupt):
            advance()


def test_a_swallowed_ctrl_c_stops_before_the_next_stage() -> None:
    times = StageTimes()
    with interrupts.stop_on_ctrl_c():
        _swallowed_ctrl_c()
        with pytest.raises(KeyboardInterrupt), times.stage("render"):
            pass


def test_the_previous_handler_comes_back_and_nothing_is_remembered() -> None:
    before = signal.getsignal(signal.SIGINT)
    with interrupts.stop_on_ctrl_c():
        assert signal.getsignal(signal.SIGINT) is not before
        _swallowed_ctrl_c()
    assert signal.getsignal(signal.SIGINT) is before
    interrupts.check()  # the request ended with the block


def test_an_error_a_library_raises_for_ctrl_c_is_the_interruption() -> None:
    """DuckDB answers SIGINT with "RuntimeError: Query interrupted"; seen in a full CI run."""
    with interrupts.stop_on_ctrl_c():
        _swallowed_ctrl_c()
        with pytest.raises(KeyboardInterrupt), interrupts.errors_after_ctrl_c_are_interrupts():
            raise RuntimeError("Query interrupted")


def test_errors_without_ctrl_c_pass_through_unchanged() -> None:
    with (
        interrupts.stop_on_ctrl_c(),
        pytest.raises(ValueError),
        interrupts.errors_after_ctrl_c_are_interrupts(),
    ):
        raise ValueError("bad input")


def test_main_reports_a_duckdb_interrupt_as_interrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    import duckdb

    from hvgen import cli

    def interrupted_query(*args: object, **kwargs: object) -> None:
        _swallowed_ctrl_c()
        duckdb.connect().execute("SELECT 1")  # a working query: the error must come from the request
        raise RuntimeError("Query interrupted")

    monkeypatch.setattr(cli, "_command", lambda: type("C", (), {"main": staticmethod(interrupted_query)}))
    with pytest.raises(SystemExit) as exit_:
        cli.main(["dysca"])
    assert exit_.value.code == 130
