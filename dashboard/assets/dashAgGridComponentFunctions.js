// Cell renderers for the transfers table. Sources are untrusted text: only http(s) URLs become links,
// everything else is shown as plain text (React escapes it), and links open in a new tab without an opener.
// A source arrives as "url" or "publisher\u241furl"; several are separated by "|".
var dagcomponentfuncs = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});

dagcomponentfuncs.SourceLinks = function (props) {
    var text = props.value == null ? "" : String(props.value);
    var parts = text.split("|").map(function (p) { return p.trim(); }).filter(function (p) { return p.length > 0; });
    var children = parts.map(function (part, i) {
        var cut = part.lastIndexOf("\u241f");
        var publisher = cut >= 0 ? part.slice(0, cut) : "";
        var url = cut >= 0 ? part.slice(cut + 1) : part;
        var safe = /^https?:\/\/[^\s]+$/i.test(url);
        var label = publisher || url;
        if (safe && !publisher) {
            try { label = new URL(url).hostname.replace(/^www\./, ""); } catch (e) { safe = false; }
        }
        var item = safe
            ? React.createElement("a", {href: url, target: "_blank", rel: "noopener noreferrer", title: url}, label)
            : React.createElement("span", {className: "unsafe-source", title: "not an http(s) link"}, url);
        return React.createElement("span", {key: i, className: "source"}, item);
    });
    return React.createElement("span", {className: "sources one-line"}, children);
};
