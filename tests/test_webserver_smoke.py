"""Start the real Dagster webserver on the shipped project and ask its GraphQL API for the assets."""

from detectkit_dagster.project import load_project

from conftest import REPO
from support.webserver import graphql, webserver

QUERY = "{ assetNodes { assetKey { path } groupName kinds } }"
LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries {
  name locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def test_webserver_lists_every_demo_metric_asset(tmp_path):
    with webserver(tmp_path, REPO) as port:
        entries = graphql(port, LOCATIONS)["workspaceOrError"]["locationEntries"]
        nodes = graphql(port, QUERY)["assetNodes"]
    (entry,) = entries
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry["locationOrLoadError"]
    listed = {tuple(n["assetKey"]["path"]): n for n in nodes}
    metrics = [m.key for m in load_project(REPO).metrics]
    for key in metrics:
        for table in ("datapoints", "detections", "alerts", "report"):
            assert (key, table) in listed, f"{key}/{table} missing from the UI"
            assert listed[(key, table)]["groupName"] == key
