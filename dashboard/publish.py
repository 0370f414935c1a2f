"""Publish one view as a story package for readers: an interactive chart page, an embed, the data behind it and a
README for the graphics desk. The command line (`python -m dashboard publish`) and the flows page's Publish button
both call `package_files`.

A package is for readers, so it is built from the public view of the dataset whoever publishes (data.
publishing_snapshots); the charts come from the same figure functions as the dashboard's, so the published chart
is the on-screen chart; the same dataset and view give byte-identical files (the only time in them is the
dataset's build time), so a newsroom can diff and version what it published.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import html
import io
import json
import shlex
import sys
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.io as pio
from plotly.offline import get_plotlyjs

from etl.datapackage import entity_schema, table_schema
from etl.safety import csv_bytes
from etl.schema import DRAWN_ROLE_MEANINGS

from . import data, figures, views
from .filters import UNTRACED_LABEL, FilterState, mask
from .formatting import date_as_written, figure, money
from .graph_config import NO_CLOUD, STANDALONE_TOPOJSON_URL, inline_topojson_script
from .table import SAFE_URL, _sourced, ordered

CHARTS = ("flows", "timeline", "map")
# The widths the flows page draws for: a wide screen (pages/flows.py DEFAULT_WIDTH) and a phone. The published page
# holds both and shows the one the dashboard would show at the reader's width (figures.NARROW).
WIDE_WIDTH, PHONE_WIDTH = 1246, 360
HERE = Path(__file__).resolve().parent / "publish_page"
PLOTLY_FILE = "plotly.min.js"
# The columns a reader needs (etl/schema.py names; the schema module types and describes them): what, when, who,
# how much as sourced and in dollars counted once, the conversion, how sure, and the sources.
READER_COLUMNS = ("id", "date_raw", "date_start", "date_end", "payer", "payer_country", "intermediary", "recipient",
                  "recipient_country", "amount", "currency", "amount_kind", "amount_usd", "amount_eur", "drawn_usd",
                  "drawn_role", "fx_rate_usd", "fx_rate_eur", "fx_rate_date", "fx_source", "part_of", "same_as",
                  "confidence", "status_note", "purpose", "notes", "sources", "source_publisher", "source_date")
RATE_COLUMNS = ("currency", "fx_rate_date", "fx_rate_usd", "fx_rate_eur", "fx_source")
ENTITY_COLUMNS = ("entity_id", "name", "kind", "country", "aliases", "registered")
HEIGHT_MESSAGE = "influence-ledger-height"
DEFAULT_TITLE = "Who paid whom"
DEFAULT_CREDIT = "Chart: Influence Ledger. Sources: linked for each transfer."
# A package lists every transfer of its view on one page, with its sources: a story's view holds tens or hundreds. A
# view of a whole register (millions of rows) would make a page no reader can open, so it is refused, not cut.
MAX_PUBLISHED_TRANSFERS = 5_000


class TooLargeToPublish(ValueError):
    """The view lists more transfers than a published page holds (MAX_PUBLISHED_TRANSFERS)."""


@dataclass(frozen=True)
class StoryText:
    """The lines a reporter may edit: empty means the package's default."""

    title: str = ""
    dek: str = ""
    credit: str = ""
    data_as_of: str = ""


@dataclass(frozen=True)
class View:
    """Everything a package shows, worked out once from one public snapshot."""

    query: str
    state: FilterState
    charts: tuple[str, ...]
    rows: pd.DataFrame  # chart rows of the view, in the order the flows page draws them from (sums add up alike)
    full: pd.DataFrame  # the same rows in the table's order (largest first), every dataset column (public allocation)
    listed: np.ndarray  # per chart row, its place in full: the index of its transfer on the page
    left: dict
    unpublished: int | None  # internal rows matching the filters; None when the publisher may not know
    dataset: data.Dataset
    text: StoryText


def resolve_view(query: str, charts: tuple[str, ...] = ("flows",), text: StoryText = StoryText(),
                 snapshots: tuple[data.Dataset, data.Dataset | None] | None = None) -> View:
    public, whole = snapshots or data.publishing_snapshots()
    rows, state, left = views.rows_with_left_out(query, public)
    if len(rows) > MAX_PUBLISHED_TRANSFERS:
        raise TooLargeToPublish(
            f"This view lists {len(rows):,} transfers; a published page lists at most {MAX_PUBLISHED_TRANSFERS:,}, "
            "each with its sources. Narrow the filters (dates, countries, a name) and publish again.")
    listed = ordered(rows)
    unpublished = None
    if whole is not None:
        chart = whole.chart
        matching = mask(chart, replace(state, view="all"), data.alias_index(whole))
        unpublished = int((matching & (chart["visibility"] != "public").to_numpy()).sum())
    built = public.report.get("built_at", "")
    defaults = StoryText(
        title=DEFAULT_TITLE, dek=dek_for(rows, state, left), credit=DEFAULT_CREDIT,
        data_as_of="Data as of " + (built.replace("T", " ").replace("+00:00", " UTC") or "an unknown time"))
    text = StoryText(**{k: getattr(text, k).strip() or getattr(defaults, k) for k in StoryText.__dataclass_fields__})
    place = pd.Index(listed["row_key"].to_numpy()).get_indexer(rows["row_key"].to_numpy())
    return View(state.to_query(), state, tuple(c for c in CHARTS if c in charts), rows,
                data.full_rows(listed, public), place, left, unpublished, public, text)


def dek_for(rows: pd.DataFrame, state: FilterState, left: dict) -> str:
    """What the chart counts, in the words the flows page uses."""
    if rows.empty:
        return "No transfers match these filters."
    if state.view == "excluded":
        return ("The reports that draw nothing: another report of the same transfer draws instead, their parts cover "
                "them, or no total is known. Their figures overlap others and are not added up.")
    if state.view == "all":
        return "Every report at its full value: these figures overlap and must not be added up."
    words = f"Each dollar is counted once: {views.sum_text(rows)} in {len(rows):,} documented transfers."
    if left["untraced"] and state.traced_only:
        words += f" Not drawn: {money(left['untraced_usd'])} not yet traced to a recipient."
    return words


# --- the data behind the page -------------------------------------------------------------------------------------


def transfer_records(full: pd.DataFrame) -> list[dict]:
    """Per transfer what the page lists: figure as sourced, exact amount, date as written, who, how sure, sources
    (http(s) links only; anything else is shown as text)."""
    records = []
    for r in full.itertuples(index=False):
        amount = None if pd.isna(r.amount) else float(r.amount)
        urls = [u.strip() for u in str(r.sources).split("|") if u.strip()]
        publishers = [p.strip() for p in str(r.source_publisher).split("|")]
        sources = [{"url": u, "name": publishers[i] if i < len(publishers) and publishers[i] else u,
                    "link": bool(SAFE_URL.match(u))} for i, u in enumerate(urls)]
        records.append({"id": r.id, "payer": r.payer, "recipient": r.recipient,
                        "amount": figure(amount, r.currency, r.amount_kind), "exact": _sourced(r.amount, r.currency,
                                                                                              r.amount_kind),
                        "date": date_as_written(r.date_raw), "confidence": r.confidence.replace("_", " "),
                        "counted": DRAWN_ROLE_MEANINGS.get(r.drawn_role, "") if r.drawn_role != "own" else "",
                        "sources": sources})
    return records


def sankey_views(view: View) -> dict:
    """The flows chart at both widths: figure JSON, and per node and link the transfers behind it (indices into
    the package's transfer list) and its title for the list."""
    rows = view.rows
    details = figures.RowDetails(rows)
    out = {}
    for name, width in (("wide", WIDE_WIDTH), ("narrow", PHONE_WIDTH)):
        fig = figures.sankey_figure(rows, view.state.levels, view.state.top_n, width=width, details=details)
        levels, top_n = figures.levels_for_width(view.state.levels, view.state.top_n, width)
        nodes, links = figures.sankey_data(rows, levels, top_n)
        node_rows, link_rows = figures.sankey_members(rows, levels, nodes, top_n)
        # Listed largest first, as the transfers are on the page.
        out[name] = {
            "figure": figure_json(fig),
            "nodes": [np.sort(view.listed[r]).tolist() for r in node_rows],
            "links": [np.sort(view.listed[r]).tolist() for r in link_rows],
            "nodeTitles": [f"{g.label}: {figures._figure_text(g, rows, details)}" for g in nodes.itertuples()],
            "linkTitles": [f"{g.source.partition(chr(31))[2]} → {g.target.partition(chr(31))[2]}: "
                           f"{figures._figure_text(g, rows, details)}" for g in links.itertuples()],
        }
    return out


def figure_json(fig) -> dict:
    """A figure as plain JSON (plotly.py assigns no uids, so the same figure gives the same text)."""
    return json.loads(pio.to_json(fig, validate=False, remove_uids=True))


def flow_table(view: View) -> tuple[list[str], list[list[str]]]:
    """The wide chart's links as a table: the same figures for screen readers and readers without JavaScript."""
    rows = view.rows
    if rows.empty:
        return [], []
    details = figures.RowDetails(rows)
    levels, top_n = figures.levels_for_width(view.state.levels, view.state.top_n, WIDE_WIDTH)
    _, links = figures.sankey_data(rows, levels, top_n)
    body = []
    for g in links.itertuples():
        body.append([g.source.partition("\x1f")[2], g.target.partition("\x1f")[2],
                     figures._figure_text(g, rows, details), g.currencies, figures._transfers(int(g.count)),
                     figures._dates_text(g, rows, details), g.confidence.replace("_", " ")])
    return ["From", "To", "USD at historical rates", "As sourced", "Transfers", "Dates", "Confidence"], body


def reader_csv(full: pd.DataFrame) -> bytes:
    # Byte order mark and formula neutralisation as in every download (etl.safety, dashboard/export.py).
    return csv_bytes(full[list(READER_COLUMNS)], byte_order_mark=True)


def rates_frame(full: pd.DataFrame) -> pd.DataFrame:
    """Every exchange rate the rows shown were converted at, once each, with its period and source."""
    rates = full[list(RATE_COLUMNS)].drop_duplicates()
    # A row with no rate source was not converted at all (an undated amount in dollars has no euro figure).
    rates = rates[rates["fx_source"].astype("str").ne("").to_numpy()]
    return rates.sort_values(["currency", "fx_rate_date", "fx_source"], kind="stable").reset_index(drop=True)


def entities_frame(view: View) -> pd.DataFrame:
    """The entities the rows shown name (payer, recipient, intermediaries), as registered, with their aliases."""
    full = view.full
    names = set(full["payer"]) | set(full["recipient"])
    for cell in full["intermediary"].astype("str"):
        names |= {n.strip() for n in cell.split(";") if n.strip()}
    entities = view.dataset.entities
    chosen = entities[entities["name"].isin(names).to_numpy()][list(ENTITY_COLUMNS)]
    return chosen.sort_values("name", kind="stable").reset_index(drop=True)


def settings(view: View) -> dict:
    """The view's settings: enough to publish the same package again from the same dataset."""
    return {"query": view.query, "charts": list(view.charts), "title": view.text.title, "dek": view.text.dek,
            "credit": view.text.credit, "data_as_of": view.text.data_as_of,
            "dataset_built_at": view.dataset.report.get("built_at", ""), "filters_in_words":
                views.filters_in_words(view.state), "command": regenerate_command(view)}


def regenerate_command(view: View) -> str:
    parts = ["python", "-m", "dashboard", "publish", view.query, "-o", "DIR", "--charts", ",".join(view.charts)]
    for flag, value in (("--title", view.text.title), ("--dek", view.text.dek), ("--credit", view.text.credit),
                        ("--data-as-of", view.text.data_as_of)):
        parts += [flag, value]
    return " ".join(shlex.quote(p) for p in parts)


def datapackage(view: View) -> str:
    package = {
        "profile": "tabular-data-package",
        "name": "influence-ledger-story",
        "title": view.text.title,
        "description": f"{views.filters_in_words(view.state)} The rows of one published chart of Influence Ledger, "
                       "public rows only. Each dollar is counted once: sum drawn_usd. part_of and same_as may name "
                       "a transfer this package does not hold. Text cells that a spreadsheet would run as a formula "
                       "carry a leading apostrophe. view.json holds the settings that regenerate the package.",
        "created": view.dataset.report.get("built_at", ""),
        "resources": [
            {"name": "transfers", "path": "transfers.csv", "profile": "tabular-data-resource", "format": "csv",
             "mediatype": "text/csv", "encoding": "utf-8-sig",
             "schema": table_schema(READER_COLUMNS, row_links=False)},
            {"name": "exchange-rates", "path": "exchange_rates.csv", "profile": "tabular-data-resource",
             "format": "csv", "mediatype": "text/csv", "encoding": "utf-8-sig",
             "description": "Every rate the transfers were converted at: USD and EUR per unit of the currency, for "
                            "the day or period of fx_rate_date (a period: the mean of the daily rates over it).",
             "schema": table_schema(RATE_COLUMNS, row_links=False)},
            {"name": "entities", "path": "entities.csv", "profile": "tabular-data-resource", "format": "csv",
             "mediatype": "text/csv", "encoding": "utf-8-sig",
             "description": "The parties the transfers name, as registered, with the other spellings of each name.",
             "schema": entity_schema(ENTITY_COLUMNS)},
        ],
    }
    return json.dumps(package, indent=2, ensure_ascii=False) + "\n"


# --- the pages ------------------------------------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def script_json(value) -> str:
    """JSON inside a <script type="application/json">: '<' escaped, so no text can close the element."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=False).replace("<", "\\u003c") \
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def embed_id(view: View) -> str:
    # Two charts embedded in one story need two ids; the same package always gets the same one.
    key = "\x1f".join((view.query, ",".join(view.charts), view.text.title))
    return "influence-ledger-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]


def embed_snippet(view: View, src: str = "embed.html") -> str:
    """The <iframe> a story pastes, with the few lines that give it the height of its content."""
    frame_id = embed_id(view)
    return (f'<iframe id="{frame_id}" src="{_e(src)}" title="{_e(view.text.title)}" loading="lazy" '
            f'style="width:100%;min-height:480px;border:0"></iframe>\n'
            f'<script>(function(){{var f=document.getElementById("{frame_id}");'
            f'window.addEventListener("message",function(e){{if(!f||e.source!==f.contentWindow||!e.data||'
            f'e.data.type!=="{HEIGHT_MESSAGE}")return;var h=Number(e.data.height);'
            f'if(h>0&&h<100000)f.style.height=Math.ceil(h)+"px";}});}})();</script>\n')


def _table(header: list[str], body: list[list[str]], caption: str, css: str) -> str:
    if not body:
        return '<p class="empty">No transfers match these filters.</p>'
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in header)
    lines = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in body)
    return (f'<div class="table-wrap"><table class="{css}"><caption>{_e(caption)}</caption><thead><tr>{head}</tr>'
            f'</thead><tbody>{lines}</tbody></table></div>')


def _source_cell(sources: list[dict]) -> str:
    items = []
    for s in sources:
        if s["link"]:
            items.append(f'<li><a href="{_e(s["url"])}" target="_blank" rel="noopener noreferrer">{_e(s["name"])}</a>'
                         f"</li>")
        else:
            items.append(f'<li><span class="unsafe-source">{_e(s["url"])}</span></li>')
    return f'<ul class="sources">{"".join(items)}</ul>'


def transfers_table(records: list[dict]) -> str:
    body = [[_e(r["date"]), _e(f'{r["payer"]} → {r["recipient"]}'),
             _e(r["amount"]) + (f'<br><span class="exact">{_e(r["exact"])}</span>' if r["exact"] != r["amount"]
                                else ""),
             _e(r["confidence"]), _source_cell(r["sources"])] for r in records]
    return _table(["Date as written", "Payer → recipient", "Amount as sourced", "Confidence", "Sources"], body,
                  "Every transfer in the chart, largest first, with its sources", "transfers")


def counting_note(view: View) -> str:
    untraced = ""
    if view.left["untraced"]:
        untraced = (f" What is left of a larger transfer once its documented parts are drawn is not yet traced to a "
                    f"recipient ({money(view.left['untraced_usd'])} here); it is "
                    + ("left out of this chart." if view.state.traced_only
                       else f'drawn as "{UNTRACED_LABEL}".'))
    return ("Each dollar is counted once: a documented part of a larger transfer is drawn on its own, and the larger "
            "transfer draws only the rest its parts leave." + untraced + " Amounts in other currencies are converted "
            "to US dollars at the historical rate of their date (a period: the mean of its daily rates) and rounded "
            "to three significant figures; the data folder lists every rate used with its source.")


def page_html(view: View, transfers: list[dict], sankeys: dict | None, extra: dict, embed: bool) -> str:
    """index.html (embed=False: with the desk's edit panel) or embed.html (the chart, its list and the notes)."""
    text = view.text
    blocks = []
    if sankeys is not None:
        blocks.append('<section class="chart-block" aria-labelledby="flows-heading">'
                      '<h2 id="flows-heading" class="visually-hidden">Flow diagram</h2>'
                      '<div id="chart-flows" class="chart" role="img" aria-label="Flow diagram of the money; the '
                      'table below gives the same figures"></div>'
                      '<noscript><p class="hint">The interactive chart needs JavaScript; the tables below give the '
                      'same figures and every source.</p></noscript>'
                      '<div id="transfers-panel" class="transfers-panel" aria-live="polite"><p class="hint">Click or '
                      'hover over a flow or a node to list its transfers with their sources.</p></div></section>')
    if "timeline" in extra:
        blocks.append('<section class="chart-block"><h2>USD per period, by recipient country</h2>'
                      '<p class="hint">A transfer dated by a range, a month or a year is spread evenly over the '
                      'periods it covers; undated transfers are not on the timeline.</p>'
                      '<div id="chart-timeline" class="chart"></div></section>')
    if "map" in extra:
        blocks.append('<section class="chart-block"><h2>Where the money went</h2>'
                      '<div id="chart-map" class="chart"></div></section>')
    header, body = flow_table(view)
    tables = [_table(header, [[_e(c) for c in row] for row in body],
                     "The flows in the chart, with their figures", "flows")] if sankeys is not None else []
    tables.append(transfers_table(transfers))
    notes = f'<section class="about"><h2>How the figures are counted</h2><p>{_e(counting_note(view))}</p></section>'
    footer = (f'<footer><p id="story-credit">{_e(text.credit)}</p><p id="story-asof">{_e(text.data_as_of)}</p>'
              "</footer>")
    panel = "" if embed else edit_panel(view)
    story = {"embed": embed, "embedId": embed_id(view), "heightMessage": HEIGHT_MESSAGE, "narrowBelow":
             figures.NARROW, "transfers": transfers, "sankey": sankeys, "charts": extra,
             "config": {**NO_CLOUD, "topojsonURL": STANDALONE_TOPOJSON_URL, "responsive": True,
                        "toImageButtonOptions": {"format": "png", "filename": "influence-ledger-chart", "scale": 2}},
             "query": view.query, "chartNames": list(view.charts)}
    topojson = inline_topojson_script() if "map" in extra else ""
    css = (HERE / "page.css").read_text(encoding="utf-8")
    script = (HERE / "page.js").read_text(encoding="utf-8")
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        # Nothing on the page may ask any host for anything; plotly.min.js comes from the package's own folder.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'self' file: "
        "'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
        "connect-src 'none'; base-uri 'none'; form-action 'none'\">\n"
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{_e(text.title)}</title>\n<style>{css}</style>\n{topojson}</head>\n"
        f'<body class="{"embed" if embed else "story-page"}">\n<main class="story">\n'
        f'<header><h1 id="story-title">{_e(text.title)}</h1><p id="story-dek" class="dek">{_e(text.dek)}</p>'
        "</header>\n" + "\n".join(blocks) + "\n" + "\n".join(tables) + "\n" + notes + "\n" + footer + "\n"
        + panel + "</main>\n"
        f'<script type="application/json" id="story-data">{script_json(story)}</script>\n'
        f'<script src="{PLOTLY_FILE}" charset="utf-8"></script>\n<script>{script}</script>\n</body>\n</html>\n')


def edit_panel(view: View) -> str:
    text = view.text
    left = ("" if view.unpublished is None else
            f'<p id="unpublished-note">{view.unpublished:,} unpublished row{"s" if view.unpublished != 1 else ""} '
            "of the ledgers matching this view "
            f'{"are" if view.unpublished != 1 else "is"} left out of this package: it holds public rows only.</p>')
    fields = "".join(
        f'<label for="edit-{key}">{label}</label><input id="edit-{key}" data-target="{target}" type="text" '
        f'value="{_e(getattr(text, key))}">'
        for key, label, target in (("title", "Title", "story-title"), ("dek", "Dek", "story-dek"),
                                   ("credit", "Credit", "story-credit"), ("data_as_of", "Data as of", "story-asof")))
    return ('<details class="edit-panel"><summary>For the desk: edit the text, embed, regenerate</summary>'
            f'<form id="edit-form" onsubmit="return false">{fields}</form>{left}'
            '<p class="hint">Edits here change this page in your browser only. To publish them, regenerate the '
            "package with this command (it is also in data/view.json):</p>"
            f'<pre id="regenerate-command">{_e(regenerate_command(view))}</pre>'
            '<p class="hint">To embed the chart, upload this folder and paste this where the story shows it '
            "(set src to embed.html's address):</p>"
            f'<textarea id="embed-snippet" readonly rows="6">{_e(embed_snippet(view))}</textarea></details>\n')


def readme(view: View, names: list[str]) -> str:
    rates = rates_frame(view.full)
    converted = rates[rates["currency"] != "USD"]
    lines = [f"{r.currency}: {r.fx_rate_usd} USD per unit, {r.fx_rate_date or 'no period'} ({r.fx_source})"
             for r in converted.itertuples()]
    unpublished = "" if view.unpublished is None else (
        f"\n{view.unpublished:,} unpublished (internal) row(s) of the ledgers match this view and are left out.\n")
    return f"""{view.text.title}
{'=' * len(view.text.title)}

A story package published by Influence Ledger from one view of its dataset: {views.filters_in_words(view.state)}
Dataset built at {view.dataset.report.get('built_at', '')}. Public rows only: {len(view.full):,} transfer(s).
{unpublished}
What is in it
-------------
index.html            the chart page: {', '.join(view.charts)}; click or hover over a flow to list its transfers
                      with amount, date and sources; a plain table of the same figures; edit the title, dek,
                      credit and data-as-of line in "For the desk" (in your browser; regenerate to publish them)
embed.html            the chart for an <iframe> in a story (no edit panel); it tells the page its height
embed-snippet.html    the <iframe> to paste (below too)
{PLOTLY_FILE:<22}plotly.js from the installed plotly package, the only large file; the pages load it from
                      this folder and ask no other host for anything (no CDN, no fonts, no tracking)
data/transfers.csv    the rows shown, the columns a reader needs, with their sources (UTF-8 with BOM; text a
                      spreadsheet would run as a formula starts with an apostrophe)
data/exchange_rates.csv  every exchange rate used, with its date or period and its source
data/entities.csv     the parties named, as registered, with their aliases
data/datapackage.json Frictionless Data Package describing the three tables (types, units, allowed values)
data/view.json        the view's settings and the command that regenerates this package
README.txt            this file

Files: {', '.join(names)}

How to embed
------------
Upload the whole folder (index.html, embed.html, {PLOTLY_FILE}, data/) to your static host, then paste into the
story, with src set to embed.html's address:

{embed_snippet(view)}
How the figures are counted
---------------------------
{counting_note(view)}
The ETL decides once what each row draws (etl/allocation.py; ledgers/README.md, "What each row draws"): a part
of a larger transfer draws its own value; a transfer with documented parts draws only its untraced rest (its
value minus what the parts hold, never below zero); a report restating another, or a rate without a closed
period, draws nothing. drawn_usd in data/transfers.csv is that figure: summed over any rows it counts each dollar
once. Figures keep their kind: "more than" for a lower bound, "about" for an estimate, and sums containing them
say "at least" or "about".

Conversions
-----------
{chr(10).join(lines) if lines else 'Every transfer shown is in US dollars: no conversion.'}
Euro figures (amount_eur) use the ECB reference rates of the same dates; data/exchange_rates.csv lists them all.

To publish the same package again:
{regenerate_command(view)}
"""


# --- the package ----------------------------------------------------------------------------------------------------


def package_files(query: str, charts: tuple[str, ...] = ("flows",), text: StoryText = StoryText(),
                  snapshots: tuple[data.Dataset, data.Dataset | None] | None = None) -> dict[str, bytes]:
    """Every file of the package (path → bytes), in a stable order."""
    view = resolve_view(query, charts, text, snapshots)
    transfers = transfer_records(view.full)
    sankeys = sankey_views(view) if "flows" in view.charts and not view.rows.empty else None
    extra = {}
    if "timeline" in view.charts:
        extra["timeline"] = figure_json(figures.timeline_figure(view.rows, view.state.period, view.state.scale))
    if "map" in view.charts:
        extra["map"] = figure_json(figures.map_figure(view.rows, view.state.map_side))
    data_files = {
        "data/transfers.csv": reader_csv(view.full),
        "data/exchange_rates.csv": csv_bytes(rates_frame(view.full), byte_order_mark=True),
        "data/entities.csv": csv_bytes(entities_frame(view), byte_order_mark=True),
        "data/datapackage.json": datapackage(view).encode("utf-8"),
        "data/view.json": (json.dumps(settings(view), indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
    }
    pages = {
        "index.html": page_html(view, transfers, sankeys, extra, embed=False).encode("utf-8"),
        "embed.html": page_html(view, transfers, sankeys, extra, embed=True).encode("utf-8"),
        "embed-snippet.html": embed_snippet(view).encode("utf-8"),
        PLOTLY_FILE: get_plotlyjs().encode("utf-8"),
    }
    files = {**pages, **data_files}
    files["README.txt"] = readme(view, sorted(files) + ["README.txt"]).encode("utf-8")
    return dict(sorted(files.items()))


def zip_bytes(files: dict[str, bytes], built_at: str) -> bytes:
    """The package as one zip, deterministic: sorted names, each stamped with the dataset's build time."""
    stamp = pd.Timestamp(built_at or "1980-01-01")
    when = (max(stamp.year, 1980), stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo("influence-ledger-story/" + name, date_time=when)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name])
    return buffer.getvalue()


def write_package(files: dict[str, bytes], folder: Path) -> None:
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def sizes(files: dict[str, bytes]) -> list[tuple[str, int, int]]:
    """(name, bytes, gzipped bytes) per file, and the whole package last."""
    out = [(name, len(content), len(gzip.compress(content, mtime=0))) for name, content in files.items()]
    return out + [("total", sum(s[1] for s in out), sum(s[2] for s in out))]


def register_callbacks() -> None:
    """The flows page's Publish button: the same package for the current view, as a zip (public rows only, whoever
    clicks; the access gate checks the request like every other callback's)."""
    from dash import Input, Output, State, callback

    @callback(Output("publish-download", "data"), Output("publish-status", "children"),
              Input("publish-button", "n_clicks"), State("url", "search"), prevent_initial_call=True)
    def publish_view(_clicks, search):
        return button_response(search)


def button_response(search: str | None):
    """(download, message) for the Publish button: the zip, or nothing and why a view is refused."""
    from dash import dcc, no_update

    public, whole = data.publishing_snapshots()
    try:
        files = package_files(search or "", ("flows",), snapshots=(public, whole))
    except TooLargeToPublish as refused:
        return no_update, str(refused)
    return dcc.send_bytes(zip_bytes(files, public.report.get("built_at", "")), "influence-ledger-story.zip"), ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboard publish", description=__doc__.split("\n\n")[0])
    parser.add_argument("query", help="the view's URL query as the flows page shows it ('' for the default view)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="folder to write the package into")
    parser.add_argument("--charts", default="flows", help="charts to publish, of flows,timeline,map (default flows)")
    for flag in ("title", "dek", "credit", "data-as-of"):
        parser.add_argument(f"--{flag}", default="")
    args = parser.parse_args(argv)
    charts = tuple(c.strip() for c in args.charts.split(",") if c.strip())
    unknown = [c for c in charts if c not in CHARTS]
    if unknown or not charts:
        parser.error(f"--charts takes some of {', '.join(CHARTS)}; not {', '.join(unknown) or 'nothing'}")
    query = args.query.strip()
    query = query.split("?", 1)[1] if "?" in query else query
    try:
        files = package_files(query, charts, StoryText(args.title, args.dek, args.credit, args.data_as_of))
    except TooLargeToPublish as refused:
        print(f"Not published: {refused}", file=sys.stderr)
        return 2
    write_package(files, args.out)
    print(f"Wrote {len(files)} files to {args.out}:")
    for name, raw, packed in sizes(files):
        print(f"  {name:<26} {raw:>10,} bytes  {packed:>10,} gzipped")
    return 0
