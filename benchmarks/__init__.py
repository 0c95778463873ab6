"""Benchmarks: one MLflow-protocol workload against MLflow's server, FastTrackML and ours."""
