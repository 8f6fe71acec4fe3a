"""Per-partition asset check results that the UI shows as Passed/Failed per partition.

Dagster ties an `AssetCheckResult` to its partition's materialization only in a
single-partition step. Our assets therefore emit one `AssetCheckEvaluation` per partition
themselves, each pointing at the materialization of its partition written by this step (an
evaluation without that pointer is treated as stale and the partition shows "Missing").
"""

from __future__ import annotations

from typing import Callable, Iterator, Mapping

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (  # not re-exported by dagster
    AssetCheckEvaluationTargetMaterializationData,
)

from ..pipeline import CheckOutcome


def check_spec(mc, table: str, name: str, description: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=mc.key(table), description=description, partitions_def=mc.partitions_def)


def emit_partition_checks(
    context: dg.AssetExecutionContext, spec: dg.AssetCheckSpec, outcomes: Mapping[str, CheckOutcome],
    details: Callable[[str, CheckOutcome], dict] | None = None,
) -> Iterator:
    """Yield after the asset's output: its materializations are stored by then."""
    if spec.key not in context.selected_asset_check_keys:
        return
    yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(spec.key))
    targets = _materializations(context, spec.asset_key, list(outcomes))
    for partition, outcome in outcomes.items():
        metadata = dict(outcome.metadata)
        if outcome.table:
            metadata["events"] = dg.MetadataValue.md(outcome.table)
        if details and not outcome.passed:
            metadata.update(details(partition, outcome))
        yield dg.AssetCheckEvaluation(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=outcome.passed,
            severity=dg.AssetCheckSeverity[outcome.severity],
            description=outcome.description,
            metadata=metadata,
            partition=partition,
            target_materialization_data=targets.get(partition),
        )


def _materializations(context: dg.AssetExecutionContext, asset_key: dg.AssetKey, partitions: list[str]
                      ) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """This run's materialization of each partition, in one query."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=partitions), limit=len(partitions)).records
    found = {}
    for record in records:
        if record.run_id == context.run_id and record.partition_key not in found:
            found[record.partition_key] = AssetCheckEvaluationTargetMaterializationData(
                storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp)
    return found
