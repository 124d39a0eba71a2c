"""stages/jobs.sh's run_jobs: svae.sh's scheduler of runs, baselines and their scoring.

Driven by a stand-in runner (a bash function that records start and end and sleeps): a job starts
only after the jobs it names, as soon as they are done (not after every job), a failed dep skips its
dependants while the others finish, and --svae_jobs 1 keeps the given order.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

JOBS_SH = Path(__file__).resolve().parents[1] / "egs2" / "TEMPLATE" / "svae1" / "stages" / "jobs.sh"

DRIVER = r"""
set -euo pipefail
log() {{ echo "$*" >&2; }}
elapsed() {{ echo 0:00; }}
. "{jobs_sh}"
expdir={exp}
svae_jobs={n}
# spec "<name>:<seconds>[:fail]"
runner() {{
    local name=${{1%%:*}} rest=${{1#*:}}
    echo "start ${{name}}" >> {exp}/events
    sleep "${{rest%%:*}}"
    echo "end ${{name}}" >> {exp}/events
    [[ "${{rest}}" != *:fail ]]
}}
namer() {{ echo "${{1%%:*}}"; }}
run_jobs runner namer {specs}
"""


def _run(tmp_path: Path, n: int, specs: list[str]) -> tuple[int, list[str], str]:
    exp = tmp_path / "exp"
    exp.mkdir(exist_ok=True)
    (exp / "events").write_text("")
    quoted = " ".join("'" + s + "'" for s in specs)
    script = DRIVER.format(jobs_sh=JOBS_SH, exp=exp, n=n, specs=quoted)
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    return p.returncode, (exp / "events").read_text().split("\n")[:-1], p.stderr


def test_a_job_starts_when_its_deps_are_done_not_after_every_job(tmp_path):
    rc, ev, err = _run(tmp_path, 3, ["slow:1.5", "fast:0.2", "judge:0.2",
                                     "gen_fast:0.1@fast judge", "gen_slow:0.1@slow judge",
                                     "gt:0.1@judge slow/fast"])
    assert rc == 0, err
    pos = {e: i for i, e in enumerate(ev)}
    assert pos["start gen_fast"] > max(pos["end fast"], pos["end judge"])
    assert pos["start gen_fast"] < pos["end slow"]              # fills the core while slow still runs
    assert pos["start gt"] < pos["end slow"]                    # either run will do
    assert pos["start gen_slow"] > pos["end slow"]
    assert (tmp_path / "exp" / "logs" / "gen_fast.log").exists()


def test_a_failed_dep_skips_its_dependants_and_the_rest_finishes(tmp_path):
    rc, ev, err = _run(tmp_path, 2, ["bad:0.1:fail", "good:0.3", "gen_bad:0.1@bad", "gen_good:0.1@good"])
    assert rc == 1
    assert "start gen_bad" not in ev and "end gen_good" in ev
    assert "job gen_bad skipped: a job it needs (bad) failed" in err
    assert "job bad failed" in err


def test_one_job_at_a_time_keeps_the_given_order(tmp_path):
    rc, ev, err = _run(tmp_path, 1, ["a:0", "b:0@a", "c:0"])
    assert rc == 0, err
    assert ev == ["start a", "end a", "start b", "end b", "start c", "end c"]


def test_a_dep_that_never_runs_is_an_error_not_a_hang(tmp_path):
    rc, ev, err = _run(tmp_path, 2, ["a:0", "b:0@nobody"])
    assert rc == 1 and "start b" not in ev
    assert "jobs wait for jobs that never run: b:0@nobody" in err
