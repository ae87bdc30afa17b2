"""One command per measurement (figures in docs/BENCHMARKS.md), and the seeded workload
the event benchmarks share."""

#: The simulated clock starts here: a fixed past instant, so no event is "in the future".
START_MS = 1_704_067_200_000
#: The simulator's seed, so every run sends the same events.
SEED = 20240101
