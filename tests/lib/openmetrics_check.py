#!/usr/bin/python3
"""Validate OpenMetrics 1.0 text on stdin with the reference parser of the
Prometheus Python client (Debian's python3-prometheus-client; promtool in
bookworm only checks the 0.0.4 text format).  Run with Debian's
/usr/bin/python3, which sees the package.  Prints one JSON object
{family: [type, samples]} and exits 0, or prints the parser's complaint and
exits 1."""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main():
    try:
        fams = {f.name: [f.type, len(f.samples)]
                for f in text_string_to_metric_families(sys.stdin.read())}
    except ValueError as e:
        print(f"invalid OpenMetrics: {e}")
        return 1
    print(json.dumps(fams))
    return 0


if __name__ == "__main__":
    sys.exit(main())
