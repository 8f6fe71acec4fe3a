"""Bad input, one row each: what a user may write, and the one-line error that loading gives.

To add a case, add a `Case` to CASES. A row is a snippet of a metric YAML (its top-level keys
replace those of a valid metric, the rest is kept) and/or the text of `profiles.yml` or
`detectkit_project.yml`, plus the fragments the error must contain. Every row is checked the
same way: loading the project raises ConfigError with one line that names the file (`file`),
contains every fragment, and shows none of the `hidden` texts (secrets); nothing is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from detectkit_dagster.errors import ConfigError
from detectkit_dagster.project import load_project

VALID_METRIC = {
    "name": "orders",
    "interval": "10min",
    "loading_start_time": '"2024-01-01 00:00:00"',
    "query": "SELECT 1",
}
FILES = {"metric": "metrics/orders.yml", "profiles": "profiles.yml", "project": "detectkit_project.yml"}
SECRET = "s3cr3t-Pa55-w0rd"


@dataclass(frozen=True)
class Case:
    id: str
    fragments: tuple[str, ...]
    metric: str = ""                      # top-level keys replace VALID_METRIC's
    profiles: str | None = None           # the whole profiles.yml
    project: str | None = None            # the whole detectkit_project.yml
    file: str = "metric"                  # the file the error names: metric | profiles | project
    env: dict[str, str | None] = field(default_factory=dict)  # None: unset
    hidden: tuple[str, ...] = ()          # must not appear in the error


def metric_text(snippet: str) -> str:
    given = {m.group(1) for m in re.finditer(r"^([A-Za-z_]\w*)\s*:", snippet, re.M)}
    kept = [f"{key}: {value}" for key, value in VALID_METRIC.items() if key not in given]
    return "\n".join(kept) + "\n" + snippet


QUERY_ATTACKS = [
    "{{ cycler.__init__.__globals__.os.popen('id > pwned.txt').read() }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ self.__init__.__globals__.__builtins__.open('/etc/hostname').read() }}",
    "{{ dtk_start_time['__class__'] }}",
    "{{ (dtk_start_time|attr('__class__')) }}",
    "{{ range(3) }}",
    "{% include '/etc/hostname' %}",
    "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{% endfor %}",
]

CASES = [
    # --- YAML itself ------------------------------------------------------------------------
    Case("malformed_yaml", ("invalid YAML", "at line"), metric="interval: [10min\n"),
    Case("duplicate_yaml_key", ("duplicate key 'detectors'", "first given at line"),
         metric="detectors: [{type: mad}]\ndetectors: []\n"),
    Case("duplicate_key_in_profiles", ("duplicate key 'type'",),
         profiles="profiles:\n  pg:\n    type: postgres\n    type: duckdb\n", file="profiles"),
    # --- metric names (detectkit's rule plus a length limit) ---------------------------------
    Case("name_trailing_newline", ("name", "(found '\\n')"), metric='name: "m1\\n"'),
    Case("name_300_characters", ("name", "300 characters long; at most 100"), metric=f"name: {'x' * 300}"),
    Case("name_with_sql", ("name", "(found ';')"), metric='name: "orders; DROP TABLE x"'),
    Case("name_with_dot", ("name", "(found '.')"), metric="name: orders.daily"),
    Case("name_empty", ("name", "cannot be empty"), metric='name: ""'),
    # --- fields, intervals, times ------------------------------------------------------------
    Case("unknown_field", ("intreval: unknown field (did you mean 'interval'?)",), metric="intreval: 10min"),
    Case("unknown_field_in_alert_block",
         ("alerting[0].consecutive_anomalie: unknown field (did you mean 'consecutive_anomalies'?)",),
         metric="alerting:\n  channels: []\n  consecutive_anomalie: 2\n"),
    Case("interval_with_space", ("interval", "Invalid interval format"), metric='interval: "10 min"'),
    Case("interval_unknown_unit", ("interval", "Unknown time unit"), metric="interval: 10w"),
    Case("interval_zero", ("interval", "must be positive"), metric="interval: 0min"),
    Case("interval_fraction", ("interval", "Invalid interval format"), metric='interval: "1.5"'),
    Case("interval_splits_partitions", ("dagster.partitions", "7min"), metric="interval: 7min"),
    Case("loading_start_time_year_1", ("loading_start_time", "earliest supported start, 1970-01-01 00:00:00 UTC"),
         metric='loading_start_time: "0001-01-01"'),
    Case("loading_start_time_not_a_time", ("loading_start_time",), metric='loading_start_time: "yesterday"'),
    Case("cron_out_of_range", ("dagster.cron", "minute field '99'", "numbers 0-59"),
         metric="dagster: {cron: '99 99 99 99 99'}"),
    Case("cron_four_fields", ("dagster.cron", "must have 5 fields"), metric="dagster: {cron: '* * * *'}"),
    Case("cron_february_30", ("dagster.cron", "February"), metric="dagster: {cron: '0 0 30 2 *'}"),
    # --- query -------------------------------------------------------------------------------
    Case("query_and_query_file", ("Only one of 'query' or 'query_file'",), metric="query_file: sql/orders.sql"),
    Case("query_file_missing", ("query_file", "nope.sql"), metric="query_file: sql/nope.sql\nquery: null"),
    Case("query_file_outside_project", ("query_file", "outside the project folder"),
         metric="query_file: ../../../../etc/shadow\nquery: null"),
    Case("query_file_absolute", ("query_file", "outside the project folder"),
         metric="query_file: /etc/hostname\nquery: null"),
    Case("query_template_syntax", ("query", "template syntax at line 1"), metric='query: "SELECT {{ dtk_start_time "'),
    Case("query_divides_by_zero", ("query", "fails to render", "ZeroDivisionError"), metric='query: "SELECT {{ 1/0 }}"'),
    Case("query_unknown_variable", ("query", "unknown name 'dtk_start'"), metric="query: \"SELECT '{{ dtk_start }}'\""),
    Case("query_huge_repeat", ("query", "too large"), metric="query: \"SELECT '{{ 'x' * 10**10 }}'\""),
    *[Case(f"query_attack_{i}", ("query: query template", "(line 1)"), metric=f"query: \"{attack}\"")
      for i, attack in enumerate(QUERY_ATTACKS)],
    # --- detectors ---------------------------------------------------------------------------
    Case("unknown_detector_type", ("detectors[0].type", "'madd'", "mad"), metric="detectors: [{type: madd}]"),
    Case("unsupported_detector_type", ("detectors[0]", "prophet"), metric="detectors: [{type: prophet}]"),
    Case("bad_detector_param", ("detectors[0]", "window_size"), metric="detectors: [{type: mad, params: {window_size: 0}}]"),
    Case("unknown_detector_param", ("detectors[0]", "treshold", "threshold"),
         metric="detectors: [{type: zscore, params: {treshold: 3}}]"),
    Case("window_size_huge", ("detectors[0]", "looks back", "at most 1,000,000"),
         metric="detectors: [{type: mad, params: {window_size: 100000000000}}]"),
    Case("threshold_infinite", ("detectors[0].params", "'threshold' must be a finite number"),
         metric="detectors: [{type: mad, params: {threshold: .inf}}]"),
    Case("threshold_nan", ("detectors[0].params", "'threshold' must be a finite number"),
         metric="detectors: [{type: zscore, params: {threshold: .nan}}]"),
    Case("bound_minus_infinity", ("detectors[0].params", "'lower_bound' must be a finite number", "null"),
         metric="detectors: [{type: manual_bounds, params: {lower_bound: -.inf, upper_bound: 5}}]"),
    # --- alerting ----------------------------------------------------------------------------
    Case("min_detectors_above_detector_count", ("alerting[0].min_detectors", "5", "1 detector", "never fire"),
         metric="detectors: [{type: mad}]\nalerting: {channels: [], min_detectors: 5}"),
    Case("alert_template_attribute_walk", ("alerting[0].template_single", "not allowed"),
         metric="alerting: {channels: [], template_single: '{metric_name.__class__}'}"),
    Case("alert_template_indexing", ("alerting[0].template_no_data", "not allowed"),
         metric="alerting: {channels: [], template_no_data: '{metric_name[0]}'}"),
    Case("alert_template_unknown_variable", ("alerting[0].template_recovery", "unknown variable {secret}"),
         metric="alerting: {channels: [], template_recovery: '{secret}'}"),
    Case("unknown_channel_reference", ("alerting[0].channels", "'slak'", "did you mean 'slack'"),
         metric="alerting:\n  channels: [slak]\n",
         profiles="alert_channels:\n  slack: {type: slack, webhook_url: 'https://hooks.example/x'}\n"),
    Case("unknown_profile_reference", ("no profile named 'warehouse'",), metric="profile: warehouse"),
    # --- profiles.yml: secrets are never shown -----------------------------------------------
    # An unquoted numeric password is taken as its digits; an error beside it never shows it.
    Case("unquoted_numeric_password", ("profiles.pg", "port"),
         profiles="profiles:\n  pg: {type: postgres, password: 98765432, port: 0}\n", file="profiles",
         hidden=("98765432",)),
    Case("secret_in_wrong_typed_field", ("profiles.pg", "port", "value not shown: it came from the environment"),
         profiles='profiles:\n  pg: {type: postgres, port: "${PG_PASS}"}\n', file="profiles",
         env={"PG_PASS": SECRET}, hidden=(SECRET,)),
    Case("numeric_dsn", ("dsn", "value not shown"),
         profiles="profiles:\n  pg: {type: postgres, dsn: 1234567890}\n", file="profiles", hidden=("1234567890",)),
    Case("missing_env_var", ("profiles.warehouse.password", "WAREHOUSE_PASSWORD", "not set"),
         profiles='profiles:\n  warehouse: {type: postgres, password: "${WAREHOUSE_PASSWORD}"}\n', file="profiles",
         env={"WAREHOUSE_PASSWORD": None}),
    Case("template_in_profile_value", ("profiles.pg.host", "only ${NAME} and {{ env_var('NAME') }}"),
         profiles="profiles:\n  pg: {type: postgres, host: \"{{ cycler.__init__.__globals__ }}\"}\n", file="profiles"),
    Case("env_value_in_bad_channel_param", ("alert_channels.tg", "chat_id"),
         profiles='alert_channels:\n  tg: {type: telegram, bot_token: "${TG_TOKEN}", chat_id: "${TG_CHAT}"}\n',
         file="profiles", env={"TG_TOKEN": SECRET, "TG_CHAT": "not a chat id!"}, hidden=(SECRET, "not a chat id!")),
    Case("env_value_in_bad_recipient", ("alert_channels.mail", "to_emails"),
         profiles=('alert_channels:\n  mail: {type: email, smtp_host: h, smtp_port: 25, from_email: a@b.c,\n'
                   '         to_emails: ["${ONCALL}"]}\n'),
         file="profiles", env={"ONCALL": "boss at example.com"}, hidden=("boss at example.com",)),
    Case("webhook_url_not_http", ("alert_channels.hook", "webhook_url", "http:// or https://"),
         profiles=f"alert_channels:\n  hook: {{type: webhook, webhook_url: 'ftp://x/{SECRET}'}}\n",
         file="profiles", hidden=(SECRET,)),
    Case("unknown_channel_param", ("alert_channels.hook", "colour"),
         profiles="alert_channels:\n  hook: {type: webhook, webhook_url: 'https://x', colour: red}\n", file="profiles"),
    Case("channel_name_escapes_outbox", ("alert_channels", "channel name", "letters, digits"),
         profiles="alert_channels:\n  ../../../../escaped: {type: outbox}\n", file="profiles"),
    Case("channel_template_attribute_walk", ("alert_channels.hook", "template", "not allowed"),
         profiles="alert_channels:\n  hook: {type: webhook, webhook_url: 'https://x', template: '{value.__class__}'}\n",
         file="profiles"),
    Case("email_subject_attribute_walk", ("alert_channels.mail", "subject_template", "not allowed"),
         profiles=('alert_channels:\n  mail: {type: email, smtp_host: h, smtp_port: 25, from_email: a@b.c,\n'
                   "         to_emails: [x@y.z], subject_template: '{metric_name.__init__}'}\n"),
         file="profiles"),
    # --- detectkit_project.yml ---------------------------------------------------------------
    Case("error_template_attribute_walk", ("error_alerting.template", "not allowed"),
         project="error_alerting: {template: '{error_message.__class__.__mro__}'}\n", file="project"),
    Case("outbox_dir_outside_project", ("outbox_dir", "outside the project folder"),
         project="outbox_dir: ../../elsewhere\n", file="project"),
    Case("env_value_in_bad_timezone", ("error_alerting.timezone", "value not shown"),
         project='error_alerting: {timezone: "${ALERT_TZ}"}\n', file="project",
         env={"ALERT_TZ": SECRET}, hidden=(SECRET,)),
    Case("storage_unknown_type", ("storage", "duckdb", "postgres", "'mysql'"),
         project="storage: {type: mysql}\n", file="project"),
    Case("storage_without_type", ("storage", "type must be duckdb"),
         project="storage: {path: data/x}\n", file="project"),
    Case("storage_postgres_without_dsn", ("storage", "dsn", "required"),
         project="storage: {type: postgres}\n", file="project"),
    Case("storage_misspelled_field", ("storage", "shema", "did you mean 'schema'"),
         project='storage: {type: postgres, dsn: "${STORE_DSN}", shema: x}\n', file="project",
         env={"STORE_DSN": f"postgresql://u:{SECRET}@db/shop"}, hidden=(SECRET,)),
    Case("storage_dsn_password_in_file", ("storage", "dsn", "environment variable", "value not shown"),
         project=f'storage: {{type: postgres, dsn: "postgresql://u:{SECRET}@db/shop"}}\n', file="project",
         hidden=(SECRET,)),
    Case("storage_dsn_not_a_connection_string", ("storage", "dsn", "not a PostgreSQL connection string"),
         project=f'storage: {{type: postgres, dsn: "host=db {SECRET}"}}\n', file="project", hidden=(SECRET,)),
    Case("storage_dsn_env_var_unset", ("storage.dsn", "STORE_DSN", "not set"),
         project='storage: {type: postgres, dsn: "${STORE_DSN}"}\n', file="project", env={"STORE_DSN": None}),
    Case("storage_schema_not_identifier", ("storage", "schema", "plain identifier"),
         project='storage: {type: postgres, dsn: "${STORE_DSN}", schema: "a; drop"}\n', file="project",
         env={"STORE_DSN": "postgresql://u@db/shop"}),
    Case("storage_schema_reserved", ("storage", "schema", "pg_"),
         project='storage: {type: postgres, dsn: "${STORE_DSN}", schema: pg_store}\n', file="project",
         env={"STORE_DSN": "postgresql://u@db/shop"}),
    Case("storage_zero_timeout", ("storage", "statement_timeout_seconds"),
         project='storage: {type: postgres, dsn: "${STORE_DSN}", statement_timeout_seconds: 0}\n', file="project",
         env={"STORE_DSN": "postgresql://u@db/shop"}),
    Case("storage_and_storage_dir", ("storage_dir", "not both"),
         project="storage_dir: data/a\nstorage: {type: duckdb, path: data/b}\n", file="project"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_bad_input_fails_at_load_with_one_clear_line(project, monkeypatch, case):
    for name, value in case.env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    project.metric("orders", metric_text(case.metric))
    project.write("sql/orders.sql", "SELECT 1")
    if case.profiles is not None:
        project.write("profiles.yml", case.profiles)
    if case.project is not None:
        project.write("detectkit_project.yml", case.project)
    before = sorted(p.relative_to(project.root) for p in project.root.rglob("*"))

    with pytest.raises(ConfigError) as info:
        load_project(project.root)

    message = str(info.value)
    assert "\n" not in message, message
    assert message.startswith(f"{project.root / FILES[case.file]}: "), message
    for fragment in case.fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    for secret in case.hidden:
        assert secret not in message, message
    assert sorted(p.relative_to(project.root) for p in project.root.rglob("*")) == before


def test_every_row_has_a_unique_id():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
