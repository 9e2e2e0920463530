"""Rule-script helpers: the processing time limit and logging to the rule's log."""

import logging
import time

import pytest

from astrid.pipeline.runtime import ProcessingTimeout, logged, time_limit


def test_time_limit_stops_a_hanging_frame_with_a_clear_reason():
    with pytest.raises(
        ProcessingTimeout, match=r"calibration of X took longer than processing_timeout_minutes = 0\.01"
    ):
        with time_limit(0.01, "calibration of X"):
            time.sleep(5)


def test_time_limit_lets_quick_work_through():
    with time_limit(1, "quick"):
        total = sum(range(1000))
    assert total == 499500


def test_logged_writes_the_failure_to_the_log(tmp_path):
    log_file = tmp_path / "rule.log"
    with pytest.raises(ValueError):
        with logged(log_file):
            logging.getLogger("x").info("starting")
            raise ValueError("frame 17 is broken")
    text = log_file.read_text()
    assert "starting" in text and "frame 17 is broken" in text and "Traceback" in text


def test_a_rule_log_says_where_it_ran(tmp_path, monkeypatch):
    import socket

    for name in ("SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_JOB_PARTITION"):
        monkeypatch.delenv(name, raising=False)
    with logged(tmp_path / "local.log"):
        pass
    assert f"running on host {socket.gethostname()}\n" in (tmp_path / "local.log").read_text()
    monkeypatch.setenv("SLURM_JOB_ID", "4711")
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    monkeypatch.setenv("SLURM_JOB_PARTITION", "gpu")
    with logged(tmp_path / "slurm.log"):
        pass
    assert "SLURM job 4711 step 0 partition gpu" in (tmp_path / "slurm.log").read_text()
