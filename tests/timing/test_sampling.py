"""Benchmark sampling bounded by a time budget, and the noise facts recorded beside the percentiles."""

from __future__ import annotations

from builder.timing.sampling import ROUNDS, noise_facts, timed_runs


class Clock:
    """A fake clock each call advances by ``step`` seconds (the timed call's cost)."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        return self.now

    def run(self) -> float:
        self.now += self.step
        return self.step * 1000.0


def test_cost_follows_the_budget_not_the_iteration_count():
    slow = Clock(step=0.25)  # a 1280-pixel model: 0.25 s per run
    times = timed_runs(slow.run, warmup=2, iterations=50, budget_s=3.0, clock=slow)
    assert len(times) == 10 and slow.now == 3.0  # 2 warm-ups + 10 timed runs = the 3 s budget, not 52 runs
    fast = Clock(step=0.001)
    assert len(timed_runs(fast.run, warmup=2, iterations=50, budget_s=3.0, clock=fast)) == 50


def test_a_tiny_budget_still_gives_enough_samples_for_the_spread_and_zero_means_no_budget():
    slow = Clock(step=2.0)
    assert len(timed_runs(slow.run, warmup=1, iterations=50, budget_s=0.1, clock=slow)) == ROUNDS
    unbounded = Clock(step=2.0)
    assert len(timed_runs(unbounded.run, warmup=0, iterations=7, budget_s=0, clock=unbounded)) == 7


def test_noise_facts_record_samples_round_medians_spread_load_and_threads():
    facts = noise_facts([10.0] * 5 + [12.0] * 5, budget_s=3.0, iterations=50)
    assert facts["samples"] == 10 and facts["round_p50_ms"] == [10.0, 10.0, 11.0, 12.0, 12.0]
    assert facts["p50_spread"] == round(2.0 / 11.0, 4) and facts["threads"] >= 1 and facts["load_per_cpu"] >= 0
