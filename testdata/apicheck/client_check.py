"""Runs prometheus-api-client's main calls against a server; used by `cargo xtask apicheck`.

Usage: python client_check.py URL. Prints one `PASS name` or `FAIL name: why` line per call
and exits 1 when any call failed.
"""

import sys
import traceback
from datetime import datetime, timedelta, timezone

from prometheus_api_client import PrometheusConnect


def main() -> int:
    url = sys.argv[1]
    prom = PrometheusConnect(url=url, disable_ssl=True)
    end = datetime.now(timezone.utc)
    start = end - timedelta(minutes=5)

    def nonempty(v):
        if not v:
            raise AssertionError(f"empty result: {v!r}")
        return v

    calls = [
        ("check_prometheus_connection", lambda: nonempty(prom.check_prometheus_connection())),
        ("all_metrics", lambda: nonempty(prom.all_metrics())),
        ("get_label_names", lambda: nonempty(prom.get_label_names())),
        ("get_label_values(job)", lambda: nonempty(prom.get_label_values("job"))),
        ("get_current_metric_value(up)", lambda: nonempty(prom.get_current_metric_value("up"))),
        ("get_current_metric_value(up, label_config)", lambda: nonempty(prom.get_current_metric_value("up", label_config={"job": "prometheus"}))),
        ("get_metric_range_data(up)", lambda: nonempty(prom.get_metric_range_data("up", start_time=start, end_time=end))),
        ("get_metric_range_data(up, chunked)", lambda: nonempty(prom.get_metric_range_data("up", start_time=start, end_time=end, chunk_size=timedelta(minutes=1)))),
        ("custom_query(sum(up))", lambda: nonempty(prom.custom_query("sum(up)"))),
        ("custom_query_range(rate)", lambda: nonempty(prom.custom_query_range("rate(prometheus_http_requests_total[1m])", start_time=start, end_time=end, step="15s"))),
        ("get_metric_aggregation(up)", lambda: nonempty(prom.get_metric_aggregation("up", operations=["sum", "max", "average"], start_time=start, end_time=end, step="15"))),
    ]
    for name, attr in [
        ("get_series", lambda: nonempty(prom.get_series(start=start, end=end, params={"match[]": "up"}))),
        ("get_targets", lambda: nonempty(prom.get_targets())),
        ("get_scrape_pools", lambda: nonempty(prom.get_scrape_pools())),
        ("get_target_metadata", lambda: nonempty(prom.get_target_metadata({"job": "prometheus"}))),
        ("get_metric_metadata(prometheus_http_requests_total)", lambda: nonempty(prom.get_metric_metadata("prometheus_http_requests_total"))),
    ]:
        method = name.split("(")[0]
        if hasattr(prom, method):
            calls.append((name, attr))
        else:
            print(f"SKIP {name}: not in this prometheus-api-client version")

    failed = 0
    for name, call in calls:
        try:
            call()
            print(f"PASS {name}")
        except Exception as e:  # noqa: BLE001 - any failure is a result to report
            failed += 1
            last = traceback.extract_tb(e.__traceback__)[-1]
            print(f"FAIL {name}: {type(e).__name__}: {str(e)[:300]} (at {last.name}:{last.lineno})")
    print(f"client: {len(calls) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
