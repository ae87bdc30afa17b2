"""The event simulator: topic bootstrap, realistic traffic, malformed events, tail.

Its Python API lives in the modules (imported only where needed, so the `trend` command
starts fast):

- :func:`simulator.kafka_io.ensure_topics` creates the event and dead-letter topics;
  :func:`~simulator.kafka_io.send_records` / :func:`~simulator.kafka_io.event_record`
  produce a fixed list of records; :func:`~simulator.kafka_io.read_topic` reads a topic
  back by partition assignment;
- :func:`simulator.runner.run_simulation` runs a simulation and returns a
  :class:`~simulator.runner.SimulationSummary`;
- :class:`simulator.options.SimulationOptions` describes one, and
  :func:`simulator.options.generate_events` returns the exact records a seeded run
  sends, without I/O.
"""
