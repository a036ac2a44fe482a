"""Tools started by hwgen end with it: cancelled runs and leftover children are stopped."""
import subprocess
import sys
import threading
import time

import pytest

from hwgen import processes

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_run_returns_output_and_exit_code():
    done = processes.run([sys.executable, "-c", "print('hi'); raise SystemExit(3)"])
    assert done.returncode == 3 and done.stdout == "hi\n"


def test_a_cancelled_run_stops_its_child():
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    t0 = time.monotonic()
    with pytest.raises(processes.Cancelled):
        processes.run(SLEEP, cancel=cancel)
    assert time.monotonic() - t0 < 30
    assert not processes._live


def test_a_run_past_its_timeout_stops_its_child():
    t0 = time.monotonic()
    with pytest.raises(processes.TimedOut, match="stopped after 0.5 s"):
        processes.run(SLEEP, timeout=0.5)
    assert time.monotonic() - t0 < 30
    assert not processes._live
    done = processes.run([sys.executable, "-c", "print('in time')"], timeout=60)
    assert done.stdout == "in time\n"


def test_stop_all_ends_a_tool_running_in_the_background():
    job = processes.Background(processes.run, SLEEP)
    for _ in range(100):
        if processes._live:
            break
        time.sleep(0.05)
    (child,) = processes._live
    processes.stop_all()
    done = job.result()                    # returns once its child has been terminated
    assert done.returncode != 0 and child.poll() is not None


def test_sigterm_ends_hwgen_and_its_tools(tmp_path):
    """A `hwgen` process sent SIGTERM exits and takes its running tool with it."""
    script = tmp_path / "run.py"
    pid_file = tmp_path / "child.pid"
    # `hwgen list`, its command replaced by one that runs a tool in the background.
    script.write_text(
        "import sys, time\n"
        "from hwgen import cli, processes\n"
        "def slow_command(args):\n"
        "    job = processes.Background(processes.run, %r)\n"
        "    while not processes._live: time.sleep(0.05)\n"
        "    open(%r, 'w').write(str(next(iter(processes._live)).pid))\n"
        "    job.result()\n"
        "cli.cmd_list = slow_command\n"
        "sys.exit(cli.main(['list']))\n" % (SLEEP, str(pid_file)))
    proc = subprocess.Popen([sys.executable, str(script)])
    for _ in range(200):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.05)
    child = int(pid_file.read_text())
    proc.terminate()
    assert proc.wait(timeout=30) == 143
    for _ in range(100):                   # the child is gone (or a zombie of init's)
        try:
            with open(f"/proc/{child}/stat") as f:
                if f.read().split()[2] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"tool {child} still running after hwgen ended")
