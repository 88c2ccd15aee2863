//! Building blocks of the self-contained HTML reports (`--format html`,
//! `--html FILE`): escaping, one page with its stylesheet inline, and the
//! pieces every report draws (a verdict badge, a table, a collapsed list).
//! No script, font or image is fetched: the file is the whole report, so a
//! CI artifact opens the same anywhere, and reads without JavaScript.

use std::fmt::Write;

/// `s` as HTML text or attribute value (`&`, `<`, `>`, `"`, `'` escaped).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The stylesheet of every report. Colours name outcomes: pass, fail, and
/// "not decided" (grey); each also differs in its text, never colour alone.
const STYLE: &str = "\
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d8dde6;padding-bottom:4px}
code,pre{font:12.5px/1.4 ui-monospace,monospace;background:#f3f5f8;border-radius:4px}
code{padding:1px 4px}pre{padding:8px 10px;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
table{border-collapse:collapse;margin:6px 0 12px}th,td{border:1px solid #d8dde6;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f5f8;font-weight:600}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:700;color:#fff;background:#6b7280}
.badge.environment,.badge.fail,.badge.timebomb{background:#c2410c}.badge.intrinsic{background:#7c3aed}
.badge.stable,.badge.pass{background:#15803d}.badge.undecided{background:#6b7280}
.summary{font-size:15px;margin:6px 0 12px}.muted{color:#5b6475}
.grid td.run{width:22px;height:18px;padding:0;text-align:center;font-size:11px}
.grid td.run.pass{background:#bbf7d0}.grid td.run.fail{background:#fecaca}.grid td.run.timeout{background:#fde68a}
.grid td.none{background:#fafafa}.grid th{font-size:12px}
details{margin:6px 0}summary{cursor:pointer}
.test{border:1px solid #d8dde6;border-radius:6px;padding:8px 12px;margin:10px 0}
.test h3{font-size:15px;margin:0 0 4px;word-break:break-all}
svg text{font:11px system-ui,sans-serif}
";

/// A whole report page: `title` in the tab and as its heading context,
/// `body` already HTML.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"flakebox\">\n<title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n\
         <body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

/// A verdict or outcome badge: `class` picks its colour (a fixed word of
/// the report, e.g. `environment`), `text` is what it says.
pub fn badge(class: &str, text: &str) -> String {
    format!("<span class=\"badge {}\">{}</span>", escape(class), escape(text))
}

/// A table: header cells as text, body cells already HTML.
pub fn table(class: &str, head: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = format!("<table class=\"{}\">\n<thead><tr>", escape(class));
    for h in head {
        let _ = write!(s, "<th>{}</th>", escape(h));
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        s.push_str("<tr>");
        for cell in row {
            let _ = write!(s, "<td>{cell}</td>");
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody>\n</table>\n");
    s
}

/// Collapsed content (`<details>`), open without JavaScript by a click.
pub fn collapsed(summary: &str, body: &str) -> String {
    format!("<details><summary>{}</summary>\n{body}</details>\n", escape(summary))
}

/// A command line in a `<pre>` block, for copying.
pub fn command(line: &str) -> String {
    format!("<pre>{}</pre>\n", escape(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_text_and_both_quotes() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(escape("plain ü"), "plain ü");
    }

    #[test]
    fn a_page_is_whole_and_fetches_nothing() {
        let p = page("a <b>", "<p>x</p>\n");
        assert!(p.starts_with("<!DOCTYPE html>"));
        assert!(p.contains("<title>a &lt;b&gt;</title>"));
        assert!(p.ends_with("</html>\n"));
        for fetch in ["<script", "<link", "src=", "url(", "@import"] {
            assert!(!p.contains(fetch), "{fetch} in the page");
        }
    }

    #[test]
    fn tables_escape_headers_and_keep_cells() {
        let t = table("t", &["a<b"], &[vec!["<code>x</code>".into()]]);
        assert!(t.contains("<th>a&lt;b</th>"));
        assert!(t.contains("<td><code>x</code></td>"));
    }
}
