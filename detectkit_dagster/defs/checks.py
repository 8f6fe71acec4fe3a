"""Per-partition asset check results, also for single-run ranges.

Dagster attributes an `AssetCheckResult` to the run's partition, and to none in a range run.
Our assets therefore emit one `AssetCheckEvaluation` per partition themselves, plus the
(empty) output Dagster expects for a selected check.
"""

from typing import Iterator

import dagster as dg

from ..pipeline import CheckOutcome


def check_spec(mc, table: str, name: str, description: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=mc.key(table), description=description, partitions_def=mc.partitions_def)


def emit_partition_checks(
    context: dg.AssetExecutionContext, spec: dg.AssetCheckSpec, outcomes: dict[str, CheckOutcome]
) -> Iterator:
    if spec.key not in context.selected_asset_check_keys:
        return
    yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(spec.key))
    for partition, outcome in outcomes.items():
        yield dg.AssetCheckEvaluation(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=outcome.passed,
            severity=dg.AssetCheckSeverity[outcome.severity],
            description=outcome.description,
            metadata=outcome.metadata,
            partition=partition,
        )
