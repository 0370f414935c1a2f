/* The published page: draws the charts from the figure JSON in #story-data and lists the transfers behind a flow.
   Every piece of text from the data is put in place with textContent, never parsed as HTML, and only http(s)
   sources become links. */
(function () {
  "use strict";
  var story = JSON.parse(document.getElementById("story-data").textContent);
  var SAFE_URL = /^https?:\/\/[^\s]+$/i;

  function element(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (className) { node.className = className; }
    return node;
  }

  function sourceList(sources) {
    var list = element("ul", null, "sources");
    sources.forEach(function (source) {
      var item = element("li");
      if (source.link && SAFE_URL.test(source.url)) {
        var link = element("a", source.name);
        link.href = source.url;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        link.title = source.url;
        item.appendChild(link);
      } else {
        item.appendChild(element("span", source.url, "unsafe-source"));
      }
      list.appendChild(item);
    });
    return list;
  }

  function showTransfers(title, indices) {
    var panel = document.getElementById("transfers-panel");
    if (!panel) { return; }
    var children = [element("h3", title)];
    var list = element("ol", null, "transfer-list");
    indices.forEach(function (index) {
      var t = story.transfers[index];
      var item = element("li", null, "transfer");
      item.appendChild(element("strong", t.amount, "transfer-amount"));
      item.appendChild(document.createTextNode(" · " + t.date + " · " + t.payer + " → " + t.recipient));
      var meta = [t.confidence];
      if (t.exact !== t.amount) { meta.push("exactly " + t.exact); }
      if (t.counted) { meta.push("counted once: " + t.counted); }
      item.appendChild(element("div", meta.join(" · "), "transfer-meta"));
      item.appendChild(sourceList(t.sources));
      list.appendChild(item);
    });
    children.push(list);
    panel.replaceChildren.apply(panel, children);
  }

  function draw(target, fig) {
    var layout = Object.assign({}, fig.layout, {autosize: true});
    delete layout.width;
    return window.Plotly.react(target, fig.data, layout, story.config);
  }

  function plotlyMissing() {
    document.querySelectorAll(".chart").forEach(function (chart) {
      chart.appendChild(element("p", "The interactive chart could not be drawn (plotly.min.js is not beside this " +
                                     "page); the tables below give the same figures and every source.", "hint"));
    });
  }

  var shown = null;
  function drawSankey() {
    var target = document.getElementById("chart-flows");
    if (!target || !story.sankey) { return; }
    var which = window.innerWidth < story.narrowBelow ? "narrow" : "wide";
    if (which === shown) { return; }
    shown = which;
    draw(target, story.sankey[which].figure).then(function () {
      if (target.dataset.listening) { return; }
      target.dataset.listening = "1";
      var answer = function (event) {
        var point = event && event.points && event.points[0];
        if (!point) { return; }
        var view = story.sankey[shown];
        var number = point.pointNumber !== undefined ? point.pointNumber : point.index;
        // A node carries the links it starts and ends; a link carries its two nodes.
        var isNode = point.sourceLinks !== undefined || point.targetLinks !== undefined;
        var rows = isNode ? view.nodes[number] : view.links[number];
        var title = isNode ? view.nodeTitles[number] : view.linkTitles[number];
        if (rows) { showTransfers(title, rows); }
      };
      target.on("plotly_click", answer);
      target.on("plotly_hover", answer);
    });
  }

  function drawCharts() {
    if (!window.Plotly) { plotlyMissing(); return; }
    drawSankey();
    ["timeline", "map"].forEach(function (name) {
      var target = document.getElementById("chart-" + name);
      if (target && story.charts[name]) { draw(target, story.charts[name]); }
    });
    var pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(drawSankey, 150);
    });
  }

  function shellQuote(text) { return "'" + String(text).replace(/'/g, "'\\''") + "'"; }

  function editing() {
    var form = document.getElementById("edit-form");
    if (!form) { return; }
    var command = document.getElementById("regenerate-command");
    var snippet = document.getElementById("embed-snippet");
    var snippetTemplate = snippet ? snippet.value : "";
    var titleInSnippet = document.getElementById("edit-title").defaultValue;
    function update() {
      var values = {};
      form.querySelectorAll("input").forEach(function (input) {
        document.getElementById(input.dataset.target).textContent = input.value;
        values[input.id.replace("edit-", "")] = input.value;
      });
      document.title = values.title;
      command.textContent = ["python -m dashboard publish", shellQuote(story.query), "-o DIR --charts",
                             story.chartNames.join(","), "--title", shellQuote(values.title), "--dek",
                             shellQuote(values.dek), "--credit", shellQuote(values.credit), "--data-as-of",
                             shellQuote(values.data_as_of)].join(" ");
      if (snippet) {
        var escaped = values.title.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;")
          .replace(/>/g, "&gt;");
        var old = titleInSnippet.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;")
          .replace(/>/g, "&gt;");
        snippet.value = snippetTemplate.replace('title="' + old + '"', 'title="' + escaped + '"');
      }
    }
    form.addEventListener("input", update);
  }

  function reportHeight() {
    if (!story.embed || window.parent === window) { return; }
    var post = function () {
      window.parent.postMessage({type: story.heightMessage, id: story.embedId,
                                 height: document.documentElement.scrollHeight}, "*");
    };
    if (window.ResizeObserver) { new ResizeObserver(post).observe(document.body); }
    window.addEventListener("load", post);
    post();
  }

  drawCharts();
  editing();
  reportHeight();
}());
