// A small, safe markdown renderer for the subset card details use: headings, paragraphs,
// bold, italics, inline code, links, bullet and numbered lists, and pipe tables.
// Every piece of text is HTML-escaped; only http(s) and same-origin links become anchors.
(function (root) {
  "use strict";

  function escapeHtml(text) {
    return String(text)
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&#39;");
  }

  function safeUrl(url) {
    const trimmed = String(url).trim();
    if (/^https?:\/\//i.test(trimmed)) return trimmed;
    // Same origin only: not "//host" nor "/\\host", which browsers read as another site.
    if (/^\/(?![\/\\])/.test(trimmed)) return trimmed;
    return null;
  }

  function inline(src) {
    // One pass over the text; whatever no pattern claims is escaped as plain text.
    const pattern =
      /\\([!-\/:-@[-`{-~])|(`[^`]+`)|\[([^\]]+)\]\(([^()\s]+)\)|\*\*(.+?)\*\*|__(.+?)__|\*([^*\s][^*]*?)\*|(?<![\w])_([^_\s][^_]*?)_(?![\w])/g;
    let out = "";
    let last = 0;
    let match;
    while ((match = pattern.exec(src)) !== null) {
      out += escapeHtml(src.slice(last, match.index));
      if (match[1] !== undefined) {
        out += escapeHtml(match[1]); // a backslash-escaped punctuation character, taken literally
      } else if (match[2]) {
        out += "<code>" + escapeHtml(match[2].slice(1, -1)) + "</code>";
      } else if (match[3] !== undefined) {
        const url = safeUrl(match[4]);
        out += url
          ? '<a href="' + escapeHtml(url) + '" target="_blank" rel="noopener noreferrer">' +
            inline(match[3]) + "</a>"
          : inline(match[3]) + " (" + escapeHtml(match[4]) + ")";
      } else if (match[5] !== undefined || match[6] !== undefined) {
        out += "<strong>" + inline(match[5] !== undefined ? match[5] : match[6]) + "</strong>";
      } else {
        out += "<em>" + inline(match[7] !== undefined ? match[7] : match[8]) + "</em>";
      }
      last = pattern.lastIndex;
    }
    return out + escapeHtml(src.slice(last));
  }

  function splitRow(line) {
    let text = line.trim();
    if (text.startsWith("|")) text = text.slice(1);
    if (text.endsWith("|") && !text.endsWith("\\|")) text = text.slice(0, -1);
    return text.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
  }

  const isSeparator = (line) => /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/.test(line);
  const isTableRow = (line) => /^\s*\|/.test(line);
  const bullet = /^\s*[-*+]\s+(.*)$/;
  const numbered = /^\s*\d+[.)]\s+(.*)$/;
  const heading = /^(#{1,6})\s+(.*?)\s*#*\s*$/;

  function renderMarkdown(markdown) {
    const lines = String(markdown || "").replace(/\r\n?/g, "\n").split("\n");
    const html = [];
    let paragraph = [];
    const flush = () => {
      if (paragraph.length) html.push("<p>" + inline(paragraph.join(" ")) + "</p>");
      paragraph = [];
    };
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      if (!line.trim()) {
        flush();
        i += 1;
        continue;
      }
      const h = heading.exec(line);
      if (h) {
        flush();
        const level = Math.min(h[1].length + 2, 6); // card headings sit below the summary
        html.push("<h" + level + ">" + inline(h[2]) + "</h" + level + ">");
        i += 1;
        continue;
      }
      if (isTableRow(line) && i + 1 < lines.length && isSeparator(lines[i + 1])) {
        flush();
        const head = splitRow(line);
        const rows = [];
        i += 2;
        while (i < lines.length && isTableRow(lines[i])) {
          rows.push(splitRow(lines[i]));
          i += 1;
        }
        let table = "<table><thead><tr>";
        table += head.map((c) => "<th>" + inline(c) + "</th>").join("");
        table += "</tr></thead><tbody>";
        for (const row of rows) {
          table += "<tr>" + head.map((_, k) => "<td>" + inline(row[k] || "") + "</td>").join("") + "</tr>";
        }
        html.push(table + "</tbody></table>");
        continue;
      }
      const listKind = bullet.test(line) ? "ul" : numbered.test(line) ? "ol" : null;
      if (listKind) {
        flush();
        const itemPattern = listKind === "ul" ? bullet : numbered;
        const items = [];
        while (i < lines.length && itemPattern.test(lines[i])) {
          items.push("<li>" + inline(itemPattern.exec(lines[i])[1]) + "</li>");
          i += 1;
        }
        html.push("<" + listKind + ">" + items.join("") + "</" + listKind + ">");
        continue;
      }
      paragraph.push(line.trim());
      i += 1;
    }
    flush();
    return html.join("\n");
  }

  const api = { renderMarkdown, escapeHtml, safeUrl };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.CardMarkdown = api;
})(typeof window !== "undefined" ? window : globalThis);
