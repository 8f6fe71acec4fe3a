"""Every template the project renders is sandboxed: query templates (inline and `query_file`),
alert message templates wherever they are configured, and config values (only env_var()).

Single cases live in tests/test_bad_inputs.py; this file covers the class: every template field
found by introspection, every Jinja environment in the source, the runtime path as well as load.
"""

from __future__ import annotations

import ast
from datetime import datetime
from pathlib import Path

import pytest

from detectkit_dagster.channels.registry import REGISTRY
from detectkit_dagster.config.alert import AlertConfig
from detectkit_dagster.config.project import ErrorAlerting
from detectkit_dagster.errors import ConfigError, TemplateError
from detectkit_dagster.project import load_project
from detectkit_dagster.sources.template import check_template, render_query

PACKAGE = Path(__file__).resolve().parent.parent / "detectkit_dagster"
METRIC = """\
name: orders
interval: 10min
loading_start_time: "2024-01-01 00:00:00"
"""
ATTACK = "{{ cycler.__init__.__globals__.os.popen('touch pwned.txt').read() }}"
WALK = "{metric_name.__class__.__init__.__globals__}"


def load_error(root: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_project(root)
    return str(info.value)


def test_query_attack_from_query_file_fails_at_load_naming_the_file(project, monkeypatch):
    monkeypatch.chdir(project.root)
    path = project.metric("orders", METRIC + "query_file: sql/orders.sql\n")
    project.write("sql/orders.sql", f"SELECT {ATTACK}")
    message = load_error(project.root)
    assert message.startswith(f"{path}: query_file: query template") and "(line 1)" in message
    assert not (project.root / "pwned.txt").exists()


def test_query_attack_is_refused_at_render_time_too(tmp_path, monkeypatch):
    """A template that never went through load (or changed since) still cannot run code."""
    monkeypatch.chdir(tmp_path)
    for sql in (ATTACK, "{{ ''.__class__.__mro__ }}", "{{ 1/0 }}", "{{ nope }}"):
        with pytest.raises(TemplateError) as info:
            render_query(f"SELECT {sql}", datetime(2024, 1, 1), datetime(2024, 1, 2), 600)
        assert "\n" not in str(info.value) and str(info.value).startswith("query template")
    assert list(tmp_path.iterdir()) == []


def test_query_file_symlink_out_of_the_project_is_refused(project, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "secret.sql"
    outside.write_text("SELECT 1")
    (project.root / "sql").mkdir()
    (project.root / "sql" / "orders.sql").symlink_to(outside)
    project.metric("orders", METRIC + "query_file: sql/orders.sql\n")
    assert "query_file: 'sql/orders.sql' is outside the project folder" in load_error(project.root)


def test_plain_query_templates_keep_working(project):
    sql = ("SELECT {{ interval_seconds // 60 }} AS minutes FROM t{{ env_var('ORDERS_SUFFIX', '') }}\n"
           "{% set days = ['mon', 'tue'] %}WHERE day IN ({% for d in days %}'{{ d | upper }}'"
           "{% if not loop.last %}, {% endif %}{% endfor %}) AND ts >= '{{ dtk_start_time[:10] }}'")
    check_template(sql)
    assert render_query(sql, datetime(2024, 1, 1), datetime(2024, 1, 2), 600) == (
        "SELECT 10 AS minutes FROM t\nWHERE day IN ('MON', 'TUE') AND ts >= '2024-01-01'")


def test_env_var_is_not_read_at_load_but_required_at_render(project, monkeypatch):
    monkeypatch.delenv("ORDERS_SCHEMA", raising=False)
    project.metric("orders", METRIC + "query: \"SELECT * FROM {{ env_var('ORDERS_SCHEMA') }}.orders\"\n")
    metric = load_project(project.root).metrics[0]
    with pytest.raises(TemplateError, match="environment variable ORDERS_SCHEMA is not set"):
        render_query(metric.sql, datetime(2024, 1, 1), datetime(2024, 1, 2), 600)
    monkeypatch.setenv("ORDERS_SCHEMA", "shop")
    assert render_query(metric.sql, datetime(2024, 1, 1), datetime(2024, 1, 2), 600) == "SELECT * FROM shop.orders"


ALERT_TEMPLATE_FIELDS = [name for name in AlertConfig.model_fields if "template" in name]
CHANNEL_TEMPLATE_PARAMS = sorted({(kind, name) for kind, (schema, _) in REGISTRY.items()
                                  for name in schema if "template" in name})
CHANNEL_MINIMAL = {
    "webhook": {"webhook_url": "https://hooks.example/x"},
    "slack": {"webhook_url": "https://hooks.example/x"},
    "mattermost": {"webhook_url": "https://hooks.example/x"},
    "telegram": {"bot_token": "t", "chat_id": "1"},
    "email": {"smtp_host": "h", "smtp_port": 25, "from_email": "a@b.c", "to_emails": ["x@y.z"]},
}


def test_introspection_finds_the_template_fields():
    assert len(ALERT_TEMPLATE_FIELDS) == 4 and "template" in ErrorAlerting.model_fields
    assert {kind for kind, _ in CHANNEL_TEMPLATE_PARAMS} >= {"webhook", "telegram", "email"}


@pytest.mark.parametrize("field", ALERT_TEMPLATE_FIELDS)
def test_every_alert_template_field_refuses_attribute_walks_at_load(project, field):
    path = project.metric("orders", METRIC + f"query: SELECT 1\nalerting:\n  channels: []\n  {field}: '{WALK}'\n")
    message = load_error(project.root)
    assert message.startswith(f"{path}: alerting[0].{field}: ") and "not allowed" in message


def test_the_error_alert_template_refuses_attribute_walks_at_load(project):
    project.metric("orders", METRIC + "query: SELECT 1\n")
    path = project.write("detectkit_project.yml", f"error_alerting:\n  template: '{WALK}'\n")
    message = load_error(project.root)
    assert message.startswith(f"{path}: error_alerting.template: ") and "not allowed" in message


@pytest.mark.parametrize("kind, param", CHANNEL_TEMPLATE_PARAMS)
def test_every_channel_template_param_refuses_attribute_walks_at_load(project, kind, param):
    project.metric("orders", METRIC + "query: SELECT 1\n")
    params = ", ".join(f"{k}: {v!r}" if not isinstance(v, list) else f"{k}: {v}"
                       for k, v in CHANNEL_MINIMAL[kind].items())
    path = project.write("profiles.yml", f"alert_channels:\n  ch: {{type: {kind}, {params}, {param}: '{WALK}'}}\n")
    message = load_error(project.root)
    assert message.startswith(f"{path}: alert_channels.ch: ") and param in message and "not allowed" in message


@pytest.mark.parametrize("file, text", [
    ("profiles.yml", "profiles:\n  pg: {{type: postgres, password: \"{payload}\"}}\n"),
    ("profiles.yml", "alert_channels:\n  hook: {{type: webhook, webhook_url: \"https://x/{payload}\"}}\n"),
    ("detectkit_project.yml", "name: \"{payload}\"\n"),
])
@pytest.mark.parametrize("payload", ["{{ ''.__class__ }}", "{% for x in y %}{% endfor %}", "{{ env_var('A') ~ 1 }}"])
def test_config_values_render_only_env_var(project, monkeypatch, file, text, payload):
    monkeypatch.setenv("A", "a")
    project.metric("orders", METRIC + "query: SELECT 1\n")
    path = project.write(file, text.format(payload=payload))
    message = load_error(project.root)
    assert message.startswith(f"{path}: ") and "only ${NAME} and {{ env_var('NAME') }}" in message


def _unsandboxed(source: str) -> list[str]:
    """Calls in `source` that would build a Jinja environment outside the sandbox."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("Environment", "Template", "NativeEnvironment"):
                found.append(f"{name}(...) at line {node.lineno}")
    return found


def test_every_jinja_environment_in_the_package_is_sandboxed():
    sources = {p.relative_to(PACKAGE): p.read_text() for p in sorted(PACKAGE.rglob("*.py"))}
    assert sum("SandboxedEnvironment" in text for text in sources.values()) >= 2  # queries, the report
    assert {path: hits for path, text in sources.items() if (hits := _unsandboxed(text))} == {}


def test_the_scan_sees_a_plain_environment():
    source = "import jinja2\nenv = jinja2.Environment()\nfrom jinja2 import Template\nt = Template('x')\n"
    assert _unsandboxed(source) == ["Environment(...) at line 2", "Template(...) at line 4"]
