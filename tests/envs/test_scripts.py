"""A user's script with a custom strategy: guarded it works, unguarded it fails with
one line saying what to add (process mode re-runs the script to import the class)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import btgym
    from btgym.strategy import BTgymBaseStrategy


    class DoubleReward(BTgymBaseStrategy):
        def get_reward(self):
            return 2 * super().get_reward()


    def main():
        env = btgym.BTgymEnv(
            filename=btgym.sample_data_path("eurusd"), strategy=DoubleReward,
            episode_duration={"days": 0, "hours": 2, "minutes": 0},
        )
        env.reset(seed=0)
        print("reward", env.step(1)[1])
        env.close()
    """
)


def run(tmp_path, body):
    path = tmp_path / "user_script.py"
    path.write_text(SCRIPT + body)
    return subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )


@pytest.mark.slow
def test_guarded_script_with_custom_strategy_works(tmp_path):
    done = run(tmp_path, '\nif __name__ == "__main__":\n    main()\n')
    assert done.returncode == 0, done.stderr[-2000:]
    assert "reward" in done.stdout


@pytest.mark.slow
def test_unguarded_script_fails_with_one_line_naming_the_guard(tmp_path):
    done = run(tmp_path, "\nmain()\n")
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("btgym.errors.ServerDiedError:")
    assert 'if __name__ == "__main__":' in last and "DoubleReward" in last


@pytest.mark.slow
def test_sb3_example_logs_episode_rewards(tmp_path):
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "sb3_ppo.py"
    done = subprocess.run(
        [sys.executable, str(example), "--steps", "1024"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "episode: reward" in done.stdout  # VecMonitor's episodes, printed
    assert "ep_rew_mean" in done.stdout  # and in SB3's own log
    assert "greedy episode: reward" in done.stdout
