"""The requests a browser sends for the dashboard's page callbacks, for tests (and the callback benchmark) that
talk to the server over HTTP."""
from __future__ import annotations

FLOWS_CHART_OUTPUTS = ("sankey.figure", "flow-left-out.children", "flow-focus.children", "flow-list.children")
EXPLORE_CHART_OUTPUTS = ("timeline.figure", "map.figure", "top-recipients.figure", "top-payers.figure",
                         "explore-focus.children", "explore-left-out.children")
TABLE_OUTPUTS = ("grid.rowData", "pager-text.children", "cards.children", "grid.columnDefs", "columns.value",
                 "detail.children")


def callback_payload(names: list[str], inputs: list[tuple[str, object]], changed: list[str]) -> dict:
    """One server callback as Dash posts it: its outputs ("id.property", in the callback's order), its inputs as
    ("id.property", value) pairs in the callback's order, and the inputs that changed."""
    outputs = [{"id": n.split(".")[0], "property": n.split(".")[1]} for n in names]
    return {"output": ".." + "...".join(names) + "..", "outputs": outputs,
            "inputs": [{"id": n.split(".")[0], "property": n.split(".")[1], "value": v} for n, v in inputs],
            "changedPropIds": changed, "state": []}


def flows_page_payload(search: str, width: int | None = 1246, sort: str = "value_usd",
                       changed: str = "url.search") -> dict:
    """The flows page's one callback (chart, notes, flow list and table page) for a URL, as Dash posts it."""
    return callback_payload([*FLOWS_CHART_OUTPUTS, *(f"flows-{o}" for o in TABLE_OUTPUTS)],
                            [("url.search", search), ("viewport.data", width), ("flows-sort.value", sort)], [changed])


def explore_page_payload(search: str, sort: str = "value_usd", changed: str = "url.search") -> dict:
    """The timeline & map page's one callback (timeline, map, top bars, notes and table page) for a URL."""
    return callback_payload([*EXPLORE_CHART_OUTPUTS, *(f"explore-{o}" for o in TABLE_OUTPUTS)],
                            [("url.search", search), ("explore-sort.value", sort)], [changed])


def fetch_download(client, prefix: str, search: str | None, sort_by: str = "value_usd", excel: bool = False,
                   **request):
    """GET a table's download as its link on the page points to it (dashboard.downloads.link); the body is read
    at once, inside the request, as a browser reads the stream."""
    from dashboard import downloads

    href, _ = downloads.link(prefix, search, sort_by, excel)
    return client.get(href, buffered=True, **request)
