"""Tests of the usable and idle CPU counts (sklearn_revin._cpus)."""

import os

from sklearn_revin import _cpus


def test_cgroup_v2_quota_caps_the_usable_cpus(monkeypatch, tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert _cpus.read_cgroup_quota(str(tmp_path)) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert _cpus.read_cgroup_quota(str(tmp_path)) is None
    monkeypatch.setattr(_cpus, "cgroup_cpu_quota", lambda: 1.5)
    assert _cpus.usable_cpus() == 1


def test_cgroup_v1_quota_is_read(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert _cpus.read_cgroup_quota(str(tmp_path)) == 3.0
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert _cpus.read_cgroup_quota(str(tmp_path)) is None


def test_usable_cpus_are_at_most_the_affinity():
    assert 1 <= _cpus.usable_cpus() <= len(os.sched_getaffinity(0))


def test_runnable_threads_other_than_the_caller_are_read_from_loadavg(tmp_path):
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("0.50 0.40 0.30 3/412 12345\n")
    assert _cpus.threads_wanting_a_cpu(str(loadavg)) == 2
    loadavg.write_text("0.50 0.40 0.30 1/412 12345\n")
    assert _cpus.threads_wanting_a_cpu(str(loadavg)) == 0


def test_without_loadavg_the_load_average_less_the_caller_is_used(
    monkeypatch, tmp_path
):
    monkeypatch.setattr(_cpus.os, "getloadavg", lambda: (3.7, 0.0, 0.0))
    assert _cpus.threads_wanting_a_cpu(str(tmp_path / "absent")) == 2


def test_idle_cpus_leave_the_others_their_cores(monkeypatch):
    monkeypatch.setattr(_cpus, "usable_cpus", lambda: 8)
    monkeypatch.setattr(_cpus, "threads_wanting_a_cpu", lambda: 3)
    assert _cpus.idle_cpus() == 5
    monkeypatch.setattr(_cpus, "threads_wanting_a_cpu", lambda: 20)
    assert _cpus.idle_cpus() == 1
