// Cell renderers for the transfers table. Sources are untrusted text: only http(s) URLs become links,
// everything else is shown as plain text (React escapes it), and links open in a new tab without an opener.
var dagcomponentfuncs = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});

dagcomponentfuncs.SourceLinks = function (props) {
    var text = props.value == null ? "" : String(props.value);
    var parts = text.split("|").map(function (p) { return p.trim(); }).filter(function (p) { return p.length > 0; });
    var children = parts.map(function (part, i) {
        var safe = /^https?:\/\/[^\s]+$/i.test(part);
        var host = part;
        if (safe) {
            try { host = new URL(part).hostname.replace(/^www\./, ""); } catch (e) { safe = false; }
        }
        var item = safe
            ? React.createElement("a", {href: part, target: "_blank", rel: "noopener noreferrer", title: part}, host)
            : React.createElement("span", {className: "unsafe-source", title: "not an http(s) link"}, part);
        return React.createElement("div", {key: i}, item);
    });
    return React.createElement("div", {className: "sources"}, children);
};
