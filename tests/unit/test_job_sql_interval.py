"""SQL interval literals for any window length (Flink rejects INTERVAL '600' SECOND)."""

from jobs.topology import sql_interval


def test_intervals_are_written_day_to_second():
    assert sql_interval(5) == "INTERVAL '0 00:00:05' DAY TO SECOND"
    assert sql_interval(600) == "INTERVAL '0 00:10:00' DAY TO SECOND"
    assert sql_interval(90_061) == "INTERVAL '1 01:01:01' DAY TO SECOND"
