"""The chart workspace's bucket query has a portable form and a PostgreSQL one (the latest
value of each bucket in the same scan); both must give the same rows for any points."""

from __future__ import annotations

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from tests.factories import RunFactory
from tracking.models import Metric
from tracking.selectors.charts import _bucket_rows

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="both forms run on PostgreSQL"),
]

point = st.tuples(
    st.integers(0, 30),  # step
    st.integers(0, 5),  # timestamp: points often share a step, or a time
    st.one_of(st.floats(-10, 10), st.just(float("nan"))),
)


class TestBucketRows(HypothesisTestCase):
    @settings(max_examples=40, deadline=None)
    @given(
        runs=st.lists(st.lists(point, min_size=1, max_size=25), min_size=1, max_size=3),
        x=st.sampled_from(["step", "time", "relative"]),
        width=st.integers(1, 7),
    )
    def test_both_forms_give_the_same_rows(self, runs, x, width):
        pks = []
        for points in runs:
            run = RunFactory(start_time=0)
            pks.append(run.pk)
            unique = {(s, t, 0.0 if v != v else v, v != v) for s, t, v in points}
            Metric.objects.bulk_create(
                [
                    Metric(run=run, key="loss", step=s, timestamp=t, value=v, is_nan=n)
                    for s, t, v, n in unique
                ]
            )
        arguments = {
            "run_pks": pks, "key": "loss", "x": x, "lo": 0, "width": width,
            "x_min": None, "x_max": None,
        }  # fmt: skip
        portable = _bucket_rows(**arguments, last_in_scan=False)
        in_scan = _bucket_rows(**arguments, last_in_scan=True)
        assert portable == in_scan
