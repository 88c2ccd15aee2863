//! Text primitives every flakebox report shares, so that each report escapes
//! and quotes the same way.
//!
//! - [`md_escape`]: text inside a markdown table cell or a one-line item.
//! - [`shell_line`]: a command line a user can paste into a POSIX shell to
//!   replay a run (quoting by the `shell-words` crate).
//! - [`html`]: the pieces of the self-contained HTML reports.

pub mod html;

use std::ffi::OsStr;

/// `s` made safe for one markdown table cell or one-line list item: `|` is
/// escaped (it would end the cell) and line breaks become spaces (they would
/// end the row).
pub fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace("\r\n", " ").replace(['\n', '\r'], " ")
}

/// `args` as one POSIX shell command line: each argument quoted only when it
/// needs to be, so `sh -c` (or a paste into a terminal) gets exactly these
/// arguments back. Arguments that are not UTF-8 cannot be shown faithfully in
/// a text report: their invalid bytes appear as U+FFFD.
pub fn shell_line<S: AsRef<OsStr>>(args: &[S]) -> String {
    shell_words::join(args.iter().map(|a| a.as_ref().to_string_lossy()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::process::Command;

    #[test]
    fn md_escape_keeps_a_cell_a_cell() {
        assert_eq!(md_escape("a|b"), "a\\|b");
        assert_eq!(md_escape("one\ntwo\r\nthree\rfour"), "one two three four");
        assert_eq!(md_escape("plain `code` *x*"), "plain `code` *x*");
    }

    #[test]
    fn shell_line_quotes_only_what_needs_it() {
        let args: Vec<OsString> =
            ["cargo", "test", "--", "it's", "a b", "$HOME", ""].map(OsString::from).into();
        assert_eq!(shell_line(&args), "cargo test -- 'it'\\''s' 'a b' '$HOME' ''");
        assert_eq!(shell_line(&["plain"]), "plain");
        assert_eq!(shell_line::<&str>(&[]), "");
    }

    /// The real test of quoting: a shell given the line gets the arguments back.
    #[test]
    fn shell_line_round_trips_through_sh() {
        let args = [
            "printf",
            "%s\\n",
            "it's",
            "a b",
            "$HOME",
            "`id`",
            "x;y",
            "tab\there",
            "new\nline",
            "*",
            "~",
            "",
            "ü",
        ];
        let line = shell_line(&args);
        let out = Command::new("sh").arg("-c").arg(&line).env_clear().output().expect("sh");
        assert!(out.status.success(), "{line}");
        let want: String = args[2..].iter().map(|a| format!("{a}\n")).collect();
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{line}");
    }
}
