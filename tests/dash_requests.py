"""The requests a browser sends for the dashboard's page callbacks, for tests that talk to the server over HTTP."""
from __future__ import annotations

FLOWS_CHART_OUTPUTS = ("sankey.figure", "flow-left-out.children", "flow-focus.children", "flow-list.children")
TABLE_OUTPUTS = ("grid.rowData", "pager-text.children", "cards.children", "grid.columnDefs", "columns.value",
                 "detail.children")


def flows_page_payload(search: str, width: int | None = 1246, sort: str = "value_usd",
                       changed: str = "url.search") -> dict:
    """The flows page's one callback (chart, notes, flow list and table page) for a URL, as Dash posts it."""
    names = [*FLOWS_CHART_OUTPUTS, *(f"flows-{o}" for o in TABLE_OUTPUTS)]
    outputs = [{"id": n.split(".")[0], "property": n.split(".")[1]} for n in names]
    return {"output": ".." + "...".join(names) + "..", "outputs": outputs,
            "inputs": [{"id": "url", "property": "search", "value": search},
                       {"id": "viewport", "property": "data", "value": width},
                       {"id": "flows-sort", "property": "value", "value": sort}],
            "changedPropIds": [changed], "state": []}


def fetch_download(client, prefix: str, search: str | None, sort_by: str = "value_usd", excel: bool = False,
                   **request):
    """GET a table's download as its link on the page points to it (dashboard.downloads.link); the body is read
    at once, inside the request, as a browser reads the stream."""
    from dashboard import downloads

    href, _ = downloads.link(prefix, search, sort_by, excel)
    return client.get(href, buffered=True, **request)
